"""Segment bodies (spec §5, §7): one module per segment kind.

    syntax.py     SYNTAX (§5): the model + data configuration bit string
    platform.py   PLATFORM (§7.5)
    extension.py  EXTENSION (§7.1)
    fidelity.py   FIDELITY (§7.3)
    payload.py    PIXELS and RESIDUAL (§7.4)

Where segments may stand and how often is `container.SEGMENT_RULES`; the whole file is
`format.py`.
"""
