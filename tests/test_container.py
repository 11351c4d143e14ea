"""Container framing, integer codes and the SYNTAX segment (spec §3-§5)."""

import binascii
import random
import zlib

import pytest

import aigif
from aigif import container
from aigif.bits import BitReader, BitWriter, leb128, read_leb128, ue_bits
from aigif.errors import IntegrityError, MalformedSegment, Truncated


def test_crc_check_values_match_the_spec():
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1
    assert zlib.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("k", [0, 1, 3, 4])
def test_exp_golomb_round_trip_and_length(k):
    values = [0, 1, 2, 3, 7, 8, 15, 16, 100, 1000, 2**31, 2**40 + 5]
    w = BitWriter()
    for v in values:
        w.ue(v, k)
        w.se(-v, k)
        w.se(v, k)
    r = BitReader(w.getvalue())
    for v in values:
        assert r.ue(k) == v
        assert r.se(k) == -v
        assert r.se(k) == v
    assert ue_bits(0, 0) == 1 and ue_bits(1, 0) == 3 and ue_bits(6, 0) == 5 and ue_bits(7, 0) == 7


def test_leb128_is_minimal_and_rejects_overlong():
    for v in (0, 1, 127, 128, 300, 2**28):
        data = leb128(v)
        assert read_leb128(data, 0) == (v, len(data))
    with pytest.raises(MalformedSegment):
        read_leb128(b"\x81\x00", 0)
    with pytest.raises(Truncated):
        read_leb128(b"\x81", 0)


def test_syntax_only_file_pays_at_most_8_bytes_of_framing():
    data = aigif.encode(aigif.from_dict({"prompt": "a cat", "seed": 1}))
    costs, overhead = aigif.inspect(data)
    framing = overhead + sum(c.framed_bytes - c.body_bytes for c in costs)
    assert framing == 8
    assert data[:2] == container.SIGNATURE and data[2] == 0x10


def test_big_files_switch_to_crc32_and_still_decode():
    # random CJK: about 14 bits a character whatever the text codec (brotli, codec 4, packs
    # a run of consecutive code points into far fewer bytes than the CRC-32 threshold)
    rng = random.Random(3)
    s = aigif.from_dict({"prompt": "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(3000))})
    data = aigif.encode(s)
    assert data[2] & 1 == 1
    assert aigif.decode(data).prompt == s.prompt


def test_every_single_bit_flip_is_detected():
    data = aigif.encode(aigif.from_dict({"prompt": "a red fox in the snow", "seed": 7, "steps": 20}))
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(aigif.AigifError):
            aigif.decode(bytes(bad))


def test_crc_mismatch_is_its_own_error():
    data = bytearray(aigif.encode(aigif.from_dict({"prompt": "abc"})))
    data[-4] ^= 0x20  # inside the prompt text: framing still parses
    with pytest.raises(IntegrityError):
        aigif.decode(bytes(data))


def test_guidance_decimals_round_trip_exactly():
    for g in (7.5, 6, 3.25, 0, -2.5, 12.125, 1.0e-5, 123456.789):
        s = aigif.from_dict({"prompt": "x", "guidance": g})
        back = aigif.to_dict(aigif.decode(aigif.encode(s))).get("guidance")
        if back is not None:
            assert back == g and str(back) == str(g if not float(g).is_integer() else int(g))


def test_default_elision_uses_the_model_defaults():
    from aigif.registry import get_registry

    d = get_registry().model(1).defaults
    s = aigif.from_dict({"prompt": "x", "steps": d.steps, "width": d.width, "height": d.height + 8})
    out = aigif.to_dict(aigif.decode(aigif.encode(s)))
    assert "steps" not in out and "width" not in out and out["height"] == d.height + 8


def test_unknown_ancillary_extension_survives_a_rewrite():
    import msgpack

    from aigif.bits import leb128 as L

    body = aigif.encode(aigif.from_dict({"prompt": "x"}))[3:-3]
    ext = bytes([0xC4]) + L(len(L(100) + msgpack.packb([1, 2]))) + L(100) + msgpack.packb([1, 2])
    head = b"\xa1G\x10" + body + ext + b"\x00"
    data = head + binascii.crc_hqx(head, 0xFFFF).to_bytes(2, "big")
    s = aigif.decode(data)
    assert aigif.encode(s) == data

