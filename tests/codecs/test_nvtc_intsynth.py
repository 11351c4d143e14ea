"""NVTC bitstream version 3: the integer synthesis (spec/codecs.md §4.4.1) gives the same
pixels whatever holds its integers (binary64 BLAS products or int64), whatever the thread
count, and the conformance vector's exact pixels; it refuses weights and GELU tables it
cannot reproduce exactly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from aigif.errors import CodecError
from samples import perturbed_image, smooth_image

aigif_codecs = pytest.importorskip("aigif_codecs")
CODECS = {c.name: c for c in aigif_codecs.list_codecs()}
pytestmark = pytest.mark.skipif(not CODECS["nvtc"].available or "10..100" not in CODECS["nvtc"].rate_points,
                                reason=f"nvtc unavailable: {CODECS['nvtc'].reason}")
BIG = 1 << 30
REF = Path(__file__).resolve().parents[2] / "spec" / "reference"


@pytest.fixture(scope="module")
def codec():
    from aigif_codecs.nvtc import codec

    return codec


@pytest.fixture(scope="module")
def picture():
    return perturbed_image(smooth_image(72, 56, seed=31), seed=32)


def with_int64(codec, model: int, fn):
    """Run fn with model's version-3 synthesis holding its integers in int64."""
    import torch

    from aigif_codecs.nvtc.intsynth import IntSynthesis

    ld = codec.load(model)
    saved = ld.synthesis(True)
    ld._synthesis[True] = IntSynthesis(ld.model, ld.freq, dtype=torch.int64)
    try:
        return fn()
    finally:
        ld._synthesis[True] = saved


@pytest.mark.parametrize("model,q,drop", [(4, 40, 0), (5, 90, 2)])
def test_binary64_synthesis_is_the_integer_arithmetic(codec, picture, model, q, drop):
    data = codec.encode(picture, model, q=q, drop=drop)
    assert data[0] == 4  # version 4 reconstructs as version 3 does
    fast = np.asarray(codec.decode(data, max_pixels=BIG))
    exact = np.asarray(with_int64(codec, model, lambda: codec.decode(data, max_pixels=BIG)))
    assert np.array_equal(fast, exact)


def test_region_coding_is_exact_too(codec, picture):
    region = np.zeros((picture.height, picture.width), bool)
    region[:, : picture.width // 2] = True
    data = codec.encode(picture, 4, q=60, region=region, margin=4)
    fast = np.asarray(codec.decode(data, max_pixels=BIG, region=region, margin=4))
    exact = np.asarray(with_int64(codec, 4, lambda: codec.decode(data, max_pixels=BIG, region=region, margin=4)))
    assert np.array_equal(fast, exact)


def test_pixels_do_not_depend_on_threads(codec, picture):
    import torch

    data = codec.encode(picture, 5, q=80)
    saved = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(np.asarray(codec.decode(data, max_pixels=BIG)))
    finally:
        torch.set_num_threads(saved)
    assert np.array_equal(*outs)


def test_version3_reconstructs_what_version2_does_within_one_level(codec, picture):
    data = codec.encode(picture, 4, q=60, version=3)
    v3 = np.asarray(codec.decode(data, max_pixels=BIG), np.int16)
    v2 = np.asarray(codec.decode(codec.with_version(data, 2), max_pixels=BIG), np.int16)
    ref = np.asarray(picture, np.float64)
    psnr = [10 * np.log10(255**2 / ((ref - v) ** 2).mean()) for v in (v3, v2)]
    assert np.abs(v3 - v2).max() <= 1 and abs(psnr[0] - psnr[1]) < 0.01


@pytest.mark.parametrize("ref,vector,version", [("nvtc-v3-48x40", "v47-nvtc-v3-pixels", 3),
                                                ("nvtc-v4-48x40", "v50-nvtc-v4-pixels", 4)])
def test_conformance_vector_pixels_are_exact(codec, ref, vector, version):
    """spec/vectors/v47 (version 3) and v50 (version 4, per-position tables): the frozen
    symbols, and pixels every decoder must give."""
    import aigif

    meta = json.loads((REF / f"{ref}.json").read_text())
    vector = (REF.parent / "vectors" / f"{vector}.aigif").read_bytes()
    (payload,) = [p for p in aigif.decode(vector).payloads if p.codec_id == 16]
    assert payload.data == (REF / meta["payload"]).read_bytes() and payload.data[0] == version
    trace: list = []
    img = codec.decode(payload.data, max_pixels=BIG, trace=trace)
    h = hashlib.sha256()
    for _, sym in trace:
        h.update(sym.astype("<i4").tobytes())
    assert h.hexdigest() == meta["symbols_sha256"] and sum(len(s) for _, s in trace) == meta["symbols"]
    assert hashlib.sha256(np.asarray(img).tobytes()).hexdigest() == meta["pixels_sha256"]


def test_a_machine_with_another_gelu_table_refuses(monkeypatch):
    from aigif_codecs.nvtc import intsynth

    intsynth.gelu_table.cache_clear()
    # as if this machine's erf had put one entry on the other side of a rounding boundary
    monkeypatch.setattr(intsynth, "GELU_TABLE_SHA256", hashlib.sha256(b"another table").hexdigest())
    try:
        with pytest.raises(CodecError, match="GELU table"):
            intsynth.gelu_table()
    finally:
        intsynth.gelu_table.cache_clear()


def test_weights_outside_the_grid_are_refused(codec):
    import copy

    import torch

    from aigif_codecs.nvtc.intsynth import IntSynthesis

    ld = codec.load(4)
    model = copy.deepcopy(ld.model)
    with torch.no_grad():
        model.up[1][0].weight.mul_(0).add_(4.0)
    with pytest.raises(CodecError, match="exceed"):
        IntSynthesis(model, ld.freq)


def test_gelu_follows_the_spec_rule_everywhere():
    """§4.4.1's GELU, written out entry by entry, against the table code on both number holders."""
    import torch

    from aigif_codecs.nvtc import intsynth

    table = intsynth.gelu_table()
    x = np.arange(-(1 << 20), (1 << 20) + 1, 97, dtype=np.int64)
    x = np.concatenate([x, [-(1 << 19) - 1, -(1 << 19), -(1 << 19) + 1, (1 << 19) - 1, 1 << 19, (1 << 19) + 1, -1, 0, 1]])
    want = []
    for v in x.tolist():
        if v <= -(1 << 19):
            want.append(0)
        elif v >= 1 << 19:
            want.append(v)
        else:
            q, f = v // 64, v % 64
            want.append(int(table[q + 8192] + (int(table[q + 8193] - table[q + 8192]) * f) // 64))
    for dtype in (torch.float64, torch.int64):
        got = intsynth.Gelu(dtype)(torch.from_numpy(x).to(dtype)).to(torch.int64).numpy()
        assert got.tolist() == want
