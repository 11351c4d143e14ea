"""Which Pillow images carry an alpha channel: the pixel codecs, the residual and the
stealth-metadata reader must agree on it.  A function of the mode and info alone (no
Pillow import), so the lowest layers can use it."""

from __future__ import annotations

# Pillow modes with an alpha band; a "P" image has one only when its palette has a
# transparent entry (info["transparency"]).
ALPHA_MODES = ("RGBA", "LA", "PA")


def has_alpha(image) -> bool:
    """Whether the image has an alpha channel (a palette with a transparent entry included)."""
    return image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)
