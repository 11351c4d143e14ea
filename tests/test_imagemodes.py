"""aigif.imagemodes.has_alpha: the one answer to "does this image carry alpha" that the
pixel codecs, the residual codecs and the stealth reader share."""

from __future__ import annotations

import pytest
from PIL import Image

from aigif.imagemodes import has_alpha


@pytest.mark.parametrize("mode, expected", [("RGBA", True), ("LA", True), ("PA", True), ("RGB", False), ("L", False),
                                            ("1", False), ("I;16", False), ("P", False)])
def test_alpha_by_mode(mode, expected):
    assert has_alpha(Image.new(mode, (2, 2))) is expected


def test_a_palette_with_a_transparent_entry_has_alpha():
    im = Image.new("P", (2, 2))
    im.info["transparency"] = 0
    assert has_alpha(im)


def test_a_palette_png_keeps_its_transparency_through_a_file(tmp_path):
    im = Image.new("P", (2, 2))
    im.putpalette([0, 0, 0, 255, 255, 255])
    im.save(tmp_path / "t.png", transparency=1)
    opaque = tmp_path / "o.png"
    im.save(opaque)
    with Image.open(tmp_path / "t.png") as t, Image.open(opaque) as o:
        assert has_alpha(t) and not has_alpha(o)
