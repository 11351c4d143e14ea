"""Fallback codecs (aigif_codecs): round trips, corrupt payloads, limits, residual layer, CLI."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

try:
    import aigif_codecs
except ImportError:  # source tree without the pyproject package-dir mapping
    spec = importlib.util.spec_from_file_location(
        "aigif_codecs", REPO / "codecs" / "__init__.py", submodule_search_locations=[str(REPO / "codecs")]
    )
    aigif_codecs = importlib.util.module_from_spec(spec)
    sys.modules["aigif_codecs"] = aigif_codecs
    spec.loader.exec_module(aigif_codecs)

from aigif.errors import AigifError, CodecError, InvalidSyntax, LimitExceeded, MissingExtra, UnknownCodec  # noqa: E402
from samples import corruptions, perturbed_image, png_declaring_size, smooth_image  # noqa: E402

BIG = 1 << 30
CODECS = {c.name: c for c in aigif_codecs.list_codecs()}
LOSSY_FLOOR_DB = {"webp:80": 32.0, "avif:60": 32.0, "jpeg:85": 32.0, "jxl:90": 32.0}


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), np.float64)
    y = np.asarray(b.convert("RGB"), np.float64)
    mse = ((x - y) ** 2).mean()
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def available(spec: str) -> bool:
    c = CODECS[spec.split(":")[0]]
    return c.available


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["png", "webp:lossless"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_lossless_round_trip_is_exact(spec, mode):
    im = smooth_image(mode=mode, seed=1)
    codec_id, data = aigif_codecs.encode(im, spec)
    out = aigif_codecs.decode(codec_id, data, max_pixels=BIG)
    assert out.mode == mode
    assert np.array_equal(np.asarray(out), np.asarray(im))


@pytest.mark.parametrize("spec", sorted(LOSSY_FLOOR_DB))
def test_lossy_round_trip_meets_psnr_floor(spec):
    if not available(spec):
        pytest.skip(f"{spec}: {CODECS[spec.split(':')[0]].reason}")
    im = smooth_image(seed=2)
    codec_id, data = aigif_codecs.encode(im, spec)
    out = aigif_codecs.decode(codec_id, data, max_pixels=BIG)
    assert out.size == im.size
    assert psnr(im, out) >= LOSSY_FLOOR_DB[spec]
    raw = im.width * im.height * 3
    assert len(data) < raw  # it compressed


def test_quality_orders_size_and_distortion():
    im = smooth_image(seed=3)
    lo = aigif_codecs.encode(im, "webp:20")[1]
    hi = aigif_codecs.encode(im, "webp:95")[1]
    assert len(lo) < len(hi)
    assert psnr(im, aigif_codecs.decode(2, lo, max_pixels=BIG)) < psnr(im, aigif_codecs.decode(2, hi, max_pixels=BIG))


def test_verbatim_keeps_the_file_bytes():
    buf = io.BytesIO()
    smooth_image(seed=4).save(buf, "JPEG", quality=70)
    codec_id, data = aigif_codecs.encode_verbatim(buf.getvalue())
    assert codec_id == 6 and data == buf.getvalue()
    out = aigif_codecs.decode(codec_id, data, max_pixels=BIG)
    assert np.array_equal(np.asarray(out), np.asarray(Image.open(io.BytesIO(data))))
    with pytest.raises(CodecError):
        aigif_codecs.encode_verbatim(b"GIF89a" + b"\0" * 20)


def test_every_listed_spec_is_accepted():
    im = smooth_image(32, 32, seed=5)
    for c in aigif_codecs.list_codecs():
        if not c.available or c.name in ("verbatim", "nvtc", "groupmask", "omni"):
            continue
        for form in c.spec_forms():
            if ".." in form:
                name, rng_ = form.split(":")
                lo, hi = rng_.split("..")
                specs = [f"{name}:{lo}", f"{name}:{hi}"]
            else:
                specs = [form]
            for s in specs:
                codec_id, data = aigif_codecs.encode(im, s)
                assert codec_id == c.id
                assert aigif_codecs.decode(codec_id, data, max_pixels=BIG).size == im.size


def test_codec_ids_are_the_normative_ones():
    ids = {c.name: c.id for c in aigif_codecs.list_codecs()}
    assert ids == {"png": 1, "webp": 2, "avif": 3, "jxl": 4, "jpeg": 5, "verbatim": 6, "nvtc": 16, "groupmask": 17, "omni": 18}


def test_unavailable_codec_says_why():
    for c in aigif_codecs.list_codecs():
        if not c.available:
            assert c.reason
            with pytest.raises(MissingExtra):
                aigif_codecs.encode(smooth_image(16, 16), c.name + (f":{c.rate_points[-1].split('..')[0]}" if c.rate_points else ""))
            if c.name != "nvtc":  # nvtc without weights: the payload's rate point is unknown (CodecError)
                with pytest.raises(MissingExtra):
                    aigif_codecs.decode(c.id, b"\xff\x0a" + b"\0" * 32, max_pixels=BIG)


# -- bad specs and bad payloads ----------------------------------------------------------------
@pytest.mark.parametrize("spec,err", [("gif", UnknownCodec), ("webp:101", InvalidSyntax), ("webp:abc", InvalidSyntax),
                                      ("png:5", InvalidSyntax), ("", InvalidSyntax), ("jpeg:-1", InvalidSyntax)])
def test_bad_spec(spec, err):
    with pytest.raises(err):
        aigif_codecs.encode(smooth_image(16, 16), spec)


def test_jpeg_refuses_alpha():
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(smooth_image(16, 16, mode="RGBA"), "jpeg:80")


@pytest.mark.parametrize("codec_id", [0, 7, 15, 19, 99, 1000])
def test_unknown_codec_id(codec_id):
    with pytest.raises(UnknownCodec):
        aigif_codecs.decode(codec_id, b"\x89PNG\r\n\x1a\n", max_pixels=BIG)


def test_payload_of_another_format_is_rejected():
    _, png = aigif_codecs.encode(smooth_image(16, 16), "png")
    for other in (2, 3, 5):
        with pytest.raises(CodecError):
            aigif_codecs.decode(other, png, max_pixels=BIG)


def test_limit_checked_on_the_header_before_decoding():
    # 12000 x 12000 would need 432 MB, 60000 x 60000 11 GB: the header alone must trip the limit
    for side in (12000, 60000):
        with pytest.raises(LimitExceeded):
            aigif_codecs.decode(1, png_declaring_size(side, side), max_pixels=1 << 24)
    with pytest.raises(CodecError):  # under the limit, the truncated pixel data is the error
        aigif_codecs.decode(1, png_declaring_size(64, 64), max_pixels=1 << 24)
    for spec in ("png", "webp:80", "jpeg:80"):
        codec_id, data = aigif_codecs.encode(smooth_image(64, 64), spec)
        with pytest.raises(LimitExceeded):
            aigif_codecs.decode(codec_id, data, max_pixels=64 * 64 - 1)
        assert aigif_codecs.decode(codec_id, data, max_pixels=64 * 64).size == (64, 64)


@pytest.mark.parametrize("spec", ["png", "webp:80", "webp:lossless", "avif:50", "jpeg:80"])
def test_corrupt_payloads_raise_aigif_errors_only(spec):
    if not available(spec):
        pytest.skip("codec unavailable")
    codec_id, data = aigif_codecs.encode(smooth_image(48, 32, seed=6), spec)
    rng = random.Random(spec)
    for bad in corruptions(data, rng, 40):
        try:
            out = aigif_codecs.decode(codec_id, bad, max_pixels=BIG)
        except AigifError:
            continue
        assert isinstance(out, Image.Image)  # some flips land in pixel data and still decode


# -- residual layer -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("spec", ["png", "webp:lossless"])
def test_residual_reproduces_original_bit_exactly(mode, spec):
    original = smooth_image(seed=7, mode=mode)
    # the regeneration differs by +-1 and, in a corner, by a lot (wrap-around territory)
    regen = np.asarray(perturbed_image(original.convert("RGB"), 8), np.uint8).copy()
    regen[:8, :8] = 255 - regen[:8, :8]
    regenerated = Image.fromarray(regen, "RGB")
    assert not np.array_equal(np.asarray(regenerated), np.asarray(original.convert("RGB")))
    codec_id, data = aigif_codecs.residual.encode(original, regenerated, spec=spec)
    restored = aigif_codecs.residual.decode(codec_id, data, regenerated, max_pixels=BIG)
    assert restored.mode == mode
    assert np.array_equal(np.asarray(restored), np.asarray(original))


def test_lossy_residual_improves_on_the_regeneration():
    original = smooth_image(seed=9)
    # a regeneration on another platform drifts smoothly (colour, light), not as white noise
    y, x = np.mgrid[0:64, 0:96]
    drift = (12 * np.sin(x / 15.0) * np.cos(y / 11.0)).round().astype(np.int16)[..., None]
    regen = np.clip(np.asarray(original, np.int16) + drift, 0, 255)
    regenerated = Image.fromarray(regen.astype(np.uint8), "RGB")
    codec_id, data = aigif_codecs.residual.encode(original, regenerated, spec="webp:90")
    restored = aigif_codecs.residual.decode(codec_id, data, regenerated, max_pixels=BIG)
    assert psnr(original, restored) > psnr(original, regenerated) + 3


def test_residual_errors():
    a, b = smooth_image(32, 32), smooth_image(32, 16)
    with pytest.raises(InvalidSyntax):
        aigif_codecs.residual.encode(a, b)
    codec_id, data = aigif_codecs.residual.encode(a, smooth_image(32, 32, seed=3))
    with pytest.raises(CodecError):
        aigif_codecs.residual.decode(codec_id, data, b, max_pixels=BIG)
    with pytest.raises(CodecError):
        aigif_codecs.residual.decode(codec_id, b"\x07" + data[1:], a, max_pixels=BIG)
    with pytest.raises(CodecError):
        aigif_codecs.residual.decode(codec_id, b"", a, max_pixels=BIG)


# -- NVTC ---------------------------------------------------------------------------------------
NVTC_MODELS = [r for r in CODECS["nvtc"].rate_points if r.isdigit()]  # the fine-tunes, not the Q ranges
nvtc_ready = pytest.mark.skipif(not CODECS["nvtc"].available, reason=f"nvtc unavailable: {CODECS['nvtc'].reason}")


@pytest.fixture(scope="module")
def nvtc_payload():
    im = smooth_image(80, 72, seed=11)  # not a multiple of the 64-pixel padding
    rate = NVTC_MODELS[-1]
    codec_id, data = aigif_codecs.encode(im, f"nvtc:{rate}")
    return im, codec_id, data


@nvtc_ready
def test_nvtc_round_trip(nvtc_payload):
    im, codec_id, data = nvtc_payload
    assert codec_id == 16
    out = aigif_codecs.decode(codec_id, data, max_pixels=BIG)
    assert out.size == im.size and out.mode == "RGB"
    assert psnr(im, out) >= 24.0
    again = aigif_codecs.decode(codec_id, data, max_pixels=BIG)
    assert np.array_equal(np.asarray(out), np.asarray(again))
    # padding to 64-pixel multiples nearly triples this small image: a third of raw RGB at most
    assert len(data) * 8 / (im.width * im.height) < 8.0


@nvtc_ready
def test_nvtc_rate_points_order_by_size():
    if len(NVTC_MODELS) < 2:
        pytest.skip("one nvtc rate point installed")
    im = smooth_image(64, 64, seed=12)
    # each lineage in the order of its lambdas: the first fine-tunes 1-3, the band-tuned 4-5
    for lineage in (["1", "2", "3"], ["4", "5"]):
        sizes = [len(aigif_codecs.encode(im, f"nvtc:{r}")[1]) for r in lineage if r in NVTC_MODELS]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


@nvtc_ready
def test_nvtc_header_and_limits(nvtc_payload):
    im, codec_id, data = nvtc_payload
    assert data[0] == 4 and struct.unpack(">HH", data[2:6]) == im.size  # rate points 4, 5: version 4
    with pytest.raises(LimitExceeded):
        aigif_codecs.decode(codec_id, data, max_pixels=im.width * im.height - 1)
    bomb = data[:2] + struct.pack(">HH", 65535, 65535) + data[6:]
    with pytest.raises(LimitExceeded):
        aigif_codecs.decode(codec_id, bomb, max_pixels=1 << 24)
    with pytest.raises(CodecError):
        aigif_codecs.decode(codec_id, b"\x05" + data[1:], max_pixels=BIG)  # unknown version
    with pytest.raises(CodecError):
        aigif_codecs.decode(codec_id, data[:1] + b"\x63" + data[2:], max_pixels=BIG)  # unknown rate point


@nvtc_ready
def test_nvtc_corrupt_payloads(nvtc_payload):
    _, codec_id, data = nvtc_payload
    rng = random.Random(13)
    for bad in corruptions(data, rng, 30):
        with pytest.raises(AigifError):
            aigif_codecs.decode(codec_id, bad, max_pixels=BIG)


@nvtc_ready
def test_nvtc_refuses_alpha():
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(smooth_image(32, 32, mode="RGBA"), "nvtc")


# -- packaging and CLI ----------------------------------------------------------------------------
def test_listing_codecs_does_not_import_torch():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('aigif_codecs', {str(REPO / 'codecs' / '__init__.py')!r},"
        f" submodule_search_locations=[{str(REPO / 'codecs')!r}])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['aigif_codecs'] = m; spec.loader.exec_module(m)\n"
        "m.list_codecs()\n"
        "from PIL import Image; m.decode(*m.encode(Image.new('RGB', (8, 8)), 'png'), max_pixels=64)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_cli_lists_codecs(capsys):
    import argparse

    from aigif.cli import cmd_codecs

    parser = argparse.ArgumentParser()
    cmd_codecs.add_parser(parser.add_subparsers())
    args = parser.parse_args(["codecs", "--json"])
    assert args.run(args) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["webp"]["id"] == 2 and "webp:lossless" in by_name["webp"]["specs"]
    assert by_name["png"]["specs"] == ["png"]
    args = parser.parse_args(["codecs"])
    assert args.run(args) == 0
    text = capsys.readouterr().out
    for r in rows:
        assert r["name"] in text
