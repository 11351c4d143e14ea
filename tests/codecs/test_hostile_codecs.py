"""Hostile pixel payloads for aigif_codecs.decode (codecs/table.py dispatch, classical.py,
nvtc/): garbage, truncations, bombs, wrong formats for the codec ID, unknown and reserved
IDs, animations - each a specific AigifError code.
"""

from __future__ import annotations

import pytest

from aigif.errors import AigifError
from samples import animated_png, image_bytes, png_declaring_size, png_image


@pytest.mark.parametrize("codec_id, data, max_pixels, error", [
    (1, b"garbage", 1 << 28, "E_CODEC"),
    (1, b"", 1 << 28, "E_CODEC"),
    (1, "not bytes", 1 << 28, "E_CODEC"),
    (1, None, 1 << 28, "E_CODEC"),
    (1, png_declaring_size(100_000, 100_000), 1 << 28, "E_LIMIT"),
    (1, png_declaring_size(0, 0), 1 << 28, "E_CODEC"),
    (1, png_image((8, 8)), 10, "E_LIMIT"),
    (5, png_image((8, 8)), 1 << 28, "E_CODEC"),
    (2, image_bytes("WEBP")[:20], 1 << 28, "E_CODEC"),
    (5, image_bytes("JPEG")[:100], 1 << 28, "E_CODEC"),
    (6, image_bytes("GIF"), 1 << 28, "E_CODEC"),
    (6, image_bytes("TIFF"), 1 << 28, "E_CODEC"),
    (16, b"", 1 << 28, "E_CODEC"),
    (16, b"\xff" * 64, 1 << 28, "E_LIMIT"),
    (17, b"x", 1 << 28, "E_CODEC"),
    (17, b"\x01\xff\xff\xff\xff" + b"\x00" * 9, 1 << 28, "E_LIMIT"),
    (18, b"x", 1 << 28, "E_CODEC"),  # Omni-ICM: features, not pixels
    (99, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
    (-1, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
    (1 << 70, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
])
def test_codecs_decode_hostile_payloads(codec_id, data, max_pixels, error):
    import aigif_codecs

    with pytest.raises(AigifError) as e:
        aigif_codecs.decode(codec_id, data, max_pixels=max_pixels)
    assert e.value.code == error


def test_codecs_decode_refuses_animation():
    import aigif_codecs

    with pytest.raises(AigifError) as e:
        aigif_codecs.decode(1, animated_png(("red", "blue")), max_pixels=1 << 28)
    assert e.value.code == "E_CODEC"
