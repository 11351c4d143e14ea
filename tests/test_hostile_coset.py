"""Hostile residual payloads for aigif.coset.apply (aigif/coset.py, codec 32, spec §7.4.1):
bad headers, sizes, truncations and an unknown codec, each a specific AigifError code.
"""

from __future__ import annotations

import pytest
from PIL import Image

from aigif.bits import leb128
from aigif.errors import AigifError


@pytest.mark.parametrize("codec_id, data, error", [
    (1, b"\x01\x02\x08\x08", "E_CODEC_UNKNOWN"),
    (32, b"", "E_CODEC"),
    (32, b"\x02\x02\x08\x08", "E_CODEC"),
    (32, b"\x01\x02" + leb128(16) + leb128(16), "E_CODEC"),
    (32, b"\x01\x02" + leb128((1 << 21) - 1) + leb128((1 << 21) - 1), "E_LIMIT"),
    (32, b"\x01\x02\x00\x00", "E_CODEC"),
    (32, b"\x01\x02\x08\x08\x00", "E_CODEC"),
    (32, b"\x01\x02\x08\x08" + bytes([1, 0, 0]), "E_CODEC"),
    (32, b"\x01\x02\x08\x08" + bytes([0, 0, 0]) + b"\0", "E_CODEC"),
    (32, b"\x01\x02\x08\x08" + bytes([2, 0, 0]) + b"\xff" * 13, "E_CODEC"),
    (32, b"\x01\x02\x08\x08\xff\xff\xff", "E_CODEC"),
    (32, b"\x01\x02\x88\x80\x80\x80\x00\x08", "E_CODEC"),
])
def test_residual_apply_hostile_payloads(codec_id, data, error):
    from aigif import coset

    with pytest.raises(AigifError) as e:
        coset.apply(codec_id, data, Image.new("RGB", (8, 8)))
    assert e.value.code == error
