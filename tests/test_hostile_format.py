"""Hostile whole files for aigif.decode (aigif/format.py, through container and segments/):
valid framing and CRC around bodies the segment parsers must refuse with an AigifError.
"""

from __future__ import annotations

import pytest

import aigif
from aigif.container import ANCILLARY, EXTENSION, FIDELITY, PIXELS, RESIDUAL, SAFE_TO_COPY, SYNTAX, Segment
from aigif.errors import AigifError
from samples import SYNTAX_BODY, aigif_file, extension_segment


def test_decode_never_raises_anything_but_aigif_errors_for_crafted_segments():
    """Hand-crafted files with valid framing and CRC, so the segment parsers are reached."""
    crafted = [
        [Segment(SYNTAX, b"")],
        [Segment(SYNTAX, b"\xff" * 40)],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(SYNTAX, SYNTAX_BODY)],
        [Segment(SYNTAX | ANCILLARY, SYNTAX_BODY)],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | FIDELITY, b"")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | FIDELITY, b"\x01" + b"\0" * 40)],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | 2, b"\x09\x09\x09\x04")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | 2, b"\x01\x01\x01\x02\xff\xff\xff\xff")],
        [Segment(SYNTAX, SYNTAX_BODY), extension_segment(2, 2, critical=False)],
        [Segment(SYNTAX, SYNTAX_BODY), extension_segment(2, 99)],
        [Segment(SYNTAX, SYNTAX_BODY), extension_segment(1, [{"name": 5}])],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(EXTENSION, b"\xff\xff\xff\xff")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(RESIDUAL | ANCILLARY, b"\x20")],
        [Segment(RESIDUAL, b"\x20")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(PIXELS, b"\x01"), extension_segment(2, 2)],
        [Segment(PIXELS | SAFE_TO_COPY, b"\x01")],
    ]
    for segs in crafted:
        with pytest.raises(AigifError):
            aigif.decode(aigif_file(segs))
