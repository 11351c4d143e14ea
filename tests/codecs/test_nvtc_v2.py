"""NVTC bitstream version 2: adaptive integer entropy model, the Q knob, the layer knob,
version 1 payloads still decoding, and decoded symbols independent of torch's threads."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigif.errors import CodecError, InvalidSyntax
from samples import perturbed_image, smooth_image

aigif_codecs = pytest.importorskip("aigif_codecs")
CODECS = {c.name: c for c in aigif_codecs.list_codecs()}
pytestmark = pytest.mark.skipif(not CODECS["nvtc"].available or "10..100" not in CODECS["nvtc"].rate_points,
                                reason=f"nvtc unavailable: {CODECS['nvtc'].reason}")
DATA = Path(__file__).resolve().parent / "data"
BIG = 1 << 30


@pytest.fixture(scope="module")
def codec():
    from aigif_codecs.nvtc import codec

    return codec


@pytest.fixture(scope="module")
def textured():
    return perturbed_image(smooth_image(128, 128, seed=5), seed=6)


def recrc(data: bytes, header_len: int) -> bytes:
    """Rewrite the CRC of a version-2 payload whose header (before the CRC) is header_len bytes."""
    body = data[:header_len] + data[header_len + 4:]
    return data[:header_len] + struct.pack(">I", zlib.crc32(body)) + data[header_len + 4:]


def test_version1_payload_still_decodes(codec):
    data = (DATA / "nvtc-v1-model1-48x40.bin").read_bytes()
    assert data[0] == 1
    out = aigif_codecs.decode(16, data, max_pixels=BIG)
    want = np.asarray(Image.open(DATA / "nvtc-v1-model1-48x40.png"), np.int16)
    # the synthesis is float: the spec allows a few LSBs across machines, the symbols are exact
    assert out.size == (48, 40) and np.abs(np.asarray(out, np.int16) - want).max() <= 2


def test_adaptation_saves_bits_and_keeps_pixels(codec, textured):
    trace: list = []
    v2 = codec.encode(textured, 2, trace=trace)
    v1 = codec.encode(textured, 2, adapt=False)
    assert v2[0] == 3 and v1[0] == 3 and set(v1[12:12 + v1[11]]) == {0}
    assert len(v2) < 0.95 * len(v1)
    a, b = (np.asarray(codec.decode(d, max_pixels=BIG)) for d in (v2, v1))
    assert np.array_equal(a, b)  # same indices, only the entropy model differs
    # the chosen adaptation is never worse than the static tables (ideal code lengths)
    from aigif_codecs.nvtc import entropy

    for layer, sym, rows, mix, f in trace:
        assert entropy.code_length(f, rows, 16, *entropy.unpack_mix(mix), sym) <= entropy.code_length(f, rows, 16, 0, 0, sym)


def test_decoded_symbols_do_not_depend_on_threads(codec, textured):
    import torch

    enc_trace: list = []
    data = codec.encode(textured, 3, q=70, trace=enc_trace)
    saved = torch.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            tr: list = []
            img = codec.decode(data, max_pixels=BIG, trace=tr)
            runs.append((tr, np.asarray(img)))
    finally:
        torch.set_num_threads(saved)
    (t1, p1), (t2, p2) = runs
    assert [layer for layer, _ in t1] == [layer for layer, *_ in enc_trace]
    for (_, s1), (_, s2), (_, se, *_r) in zip(t1, t2, enc_trace):
        assert np.array_equal(s1, s2) and np.array_equal(s1, se)
    assert np.array_equal(p1, p2)


def test_quality_knob_orders_sizes_and_is_recorded(codec):
    im = smooth_image(64, 64, seed=12)
    payloads = {q: aigif_codecs.encode(im, f"nvtc:{q}")[1] for q in (20, 60, 100)}
    assert len(payloads[20]) < len(payloads[60]) < len(payloads[100])
    for q, d in payloads.items():
        assert d[1] == {20: 4, 60: 4, 100: 5}[q] and d[10] == q  # the band's model, Q in the header
        assert codec.decode(d, max_pixels=BIG).size == (64, 64)
    assert codec.q_lambda(60) == 128 and codec.q_lambda(100) == 2048


@pytest.mark.parametrize("rate", [1, 2, 3, 4, 5])
def test_every_rate_point_codes_and_decodes(codec, rate):
    """Rate points are never removed (spec §4.5): 1-3 still decode though nvtc:Q chooses 4-5."""
    im = perturbed_image(smooth_image(48, 40, seed=40 + rate), seed=41)
    data = aigif_codecs.encode(im, f"nvtc:{rate}")[1]
    assert data[1] == rate and data[10] == 0  # its own lambda: no Q
    out = codec.decode(data, max_pixels=BIG)
    err = np.asarray(out, np.float64) - np.asarray(im, np.float64)
    assert out.size == (48, 40) and 10 * np.log10(255**2 / (err**2).mean()) > 15


def test_band_tuned_weights_share_the_architecture(codec):
    import json

    configs = {r: json.dumps(codec.load(r).model.cfg.to_dict(), sort_keys=True) for r in (1, 2, 3, 4, 5)}
    assert len(set(configs.values())) == 1
    assert codec.load(4).lmbda == pytest.approx((32 * 256) ** 0.5) and codec.load(5).lmbda == pytest.approx((256 * 2048) ** 0.5)


def test_layer_knob(codec, textured):
    full = aigif_codecs.encode(textured, "nvtc:80")[1]
    part = aigif_codecs.encode(textured, "nvtc:80/2")[1]
    assert full[11] == 11 and part[11] == 9 and len(part) < len(full)
    assert codec.decode(part, max_pixels=BIG).size == textured.size
    with pytest.raises(InvalidSyntax):
        codec.encode(textured, 3, drop=11)


@pytest.mark.parametrize("spec", ["nvtc:9", "nvtc:101", "nvtc:80/4", "nvtc:2/1", "nvtc:80/", "nvtc:8x"])
def test_bad_specs_refused(spec):
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(smooth_image(16, 16), spec)


def test_listing_has_the_ranges():
    forms = CODECS["nvtc"].spec_forms()
    assert "nvtc:10..100" in forms and "nvtc:10..100/0..3" in forms and "nvtc:2" in forms


def test_header_fields_checked(codec):
    data = aigif_codecs.encode(smooth_image(32, 32, seed=3), "nvtc:50")[1]
    n = data[11]
    hl = 12 + n
    assert codec.decode(recrc(data, hl), max_pixels=BIG).size == (32, 32)  # recrc itself is right
    bad_mix = bytearray(data)
    bad_mix[12] = 0xC0  # nibble 12: W = 2**15, over the limit
    bad_q = bytearray(data)
    bad_q[10] = 5
    for bad in (bad_mix, bad_q):
        with pytest.raises(CodecError):
            codec.decode(recrc(bytes(bad), hl), max_pixels=BIG)
    zero = bytearray(data)
    zero[11] = 0
    with pytest.raises(CodecError):
        codec.decode(bytes(zero), max_pixels=BIG)
    too_many = data[:11] + bytes([n + 1]) + data[12:hl] + b"\x00" + data[hl:]
    with pytest.raises(CodecError):
        codec.decode(recrc(too_many, hl + 1), max_pixels=BIG)
    with pytest.raises(CodecError):
        codec.decode(data[:hl + 2], max_pixels=BIG)


def test_chunks_cover_each_layer_once():
    from aigif_codecs.nvtc import entropy

    for n in (1, 2, 3, 7, 100, 1536):
        c = entropy.chunks(n)
        assert c[0] == (0, 1) and c[-1][1] == n
        assert all(a < b and b == c2 for (a, b), (c2, _) in zip(c, c[1:] + [(n, None)]))
    # row sums stay exact in binary64 for the largest image (65535^2 pixels, stage 0)
    n_sym = (65535 // 4 + 1) ** 2
    assert (1 << 16) + 2 * entropy.weight(entropy.MAX_NIBBLE) * n_sym < 1 << 53


def test_conformance_vector_decodes_to_its_symbols(codec):
    """spec/vectors/v40-nvtc-v2-pixels: its payload's codeword indices are the frozen ones."""
    import hashlib
    import json

    import aigif

    ref = Path(__file__).resolve().parents[2] / "spec" / "reference"
    meta = json.loads((ref / "nvtc-v2-48x40.json").read_text())
    vector = (ref.parent / "vectors" / "v40-nvtc-v2-pixels.aigif").read_bytes()
    (payload,) = [p for p in aigif.decode(vector).payloads if p.codec_id == 16]
    assert payload.data == (ref / meta["payload"]).read_bytes()
    trace: list = []
    img = codec.decode(payload.data, max_pixels=BIG, trace=trace)
    h = hashlib.sha256()
    for _, sym in trace:
        h.update(sym.astype("<i4").tobytes())
    assert h.hexdigest() == meta["symbols_sha256"] and sum(len(s) for _, s in trace) == meta["symbols"]
    src = perturbed_image(smooth_image(48, 40, seed=21), seed=22)
    err = np.asarray(img, np.float64) - np.asarray(src, np.float64)
    # a noisy 48x40 picture at Q 60 with one layer left out: a loose floor, the symbols are the test
    assert img.size == (48, 40) and 10 * np.log10(255**2 / (err**2).mean()) > 12
