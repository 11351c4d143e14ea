"""Issue 16 item 1: a lossy residual never leaves the image further from the original
than the plain regeneration (codecs/residual.py kind 1 clips, never wraps), and says
what it costs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import aigif_codecs
from aigif import metrics, pixels
from aigif.errors import InvalidSyntax
from samples import smooth_image

BIG = 1 << 30


def edited(regenerated: Image.Image) -> Image.Image:
    """A user's edit of the regeneration: a pure red square pasted on it, large enough
    that o - r leaves -128..127 on every channel where the regeneration is dark or light."""
    a = np.asarray(regenerated.convert("RGB")).copy()
    a[8:40, 16:56] = (255, 0, 0)
    return Image.fromarray(a, "RGB")


def dark_regeneration() -> Image.Image:
    # dark enough that 255 - r > 127 under the square: the differences a wrap destroyed
    return Image.fromarray((np.asarray(smooth_image(64, 64, seed=5), np.int16) // 3).astype(np.uint8), "RGB")


@pytest.mark.parametrize("spec", ["webp:90", "webp:50", "jpeg:85", "nvtc:2"])
def test_lossy_residual_of_an_edit_is_never_worse_than_the_regeneration(spec):
    regenerated = dark_regeneration()
    original = edited(regenerated)
    codec_id, data = pixels.encode_residual(original, regenerated, spec)
    restored = pixels.apply_residual(codec_id, data, regenerated)
    plain = metrics.psnr(regenerated, original)
    with_residual = metrics.psnr(restored, original)
    # before the fix: webp:90 gave 10.2 dB where the regeneration alone gives 11.9 dB
    assert with_residual > plain + 6, (spec, with_residual, plain)
    # and the square comes back red, not as its wrapped complement (green/yellow)
    r, g, b = np.asarray(restored)[16:32, 24:48].reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 90 and b < 90, (r, g, b)


def test_clipped_difference_is_what_kind_1_stores():
    regenerated = dark_regeneration()
    original = edited(regenerated)
    codec_id, data = aigif_codecs.residual.encode(original, regenerated, "webp:lossless")
    assert data[0] == 0  # lossless: the exact (wrapping) kind, still bit-exact
    assert np.array_equal(np.asarray(pixels.apply_residual(codec_id, data, regenerated)), np.asarray(original))
    codec_id, data = aigif_codecs.residual.encode(original, regenerated, "webp:100")
    assert data[0] == 1
    d = np.asarray(aigif_codecs.decode(codec_id, data[1:], max_pixels=BIG).convert("RGB"), np.int16)
    o = np.asarray(original, np.int16)
    r = np.asarray(regenerated, np.int16)
    clipped = np.clip(o - r + 128, 0, 255)
    wrapped = (o - r + 128) % 256
    square = (slice(8, 40), slice(16, 56))
    assert np.abs(d[square] - clipped[square]).mean() < 3  # webp:100 keeps d within a level or two
    assert np.abs(d[square] - wrapped[square]).mean() > 50


def test_old_wrapped_kind_1_payloads_still_decode_by_the_same_rule():
    """Files from before the fix hold the wrapped difference under kind 1: they decode as
    clamp(r + d - 128), as they always did (no file became unreadable)."""
    regenerated = dark_regeneration()
    original = edited(regenerated)
    o = np.asarray(original, np.int16)
    r = np.asarray(regenerated, np.int16)
    wrapped = ((o - r + 128) % 256).astype(np.uint8)
    codec_id, inner = aigif_codecs.encode(Image.fromarray(wrapped, "RGB"), "png")  # lossless inner: exact d
    out = aigif_codecs.residual.decode(codec_id, b"\x01" + inner, regenerated, max_pixels=BIG)
    assert np.array_equal(np.asarray(out, np.int16), np.clip(r + wrapped.astype(np.int16) - 128, 0, 255))


@pytest.mark.parametrize("spec", ["nvtc:2", "webp:10"])
def test_a_lossy_residual_that_would_add_error_is_refused(spec):
    regenerated = smooth_image(64, 64, seed=2)
    rng = np.random.default_rng(1)
    # the regeneration is already within a level of the original: a lossy codec's own
    # error is larger than what it could remove
    noisy = np.clip(np.asarray(regenerated, np.int16) + rng.integers(-1, 2, (64, 64, 3)), 0, 255)
    original = Image.fromarray(noisy.astype(np.uint8), "RGB")
    with pytest.raises(InvalidSyntax, match="worse than the plain regeneration"):
        pixels.encode_residual(original, regenerated, spec)


def test_a_lossy_residual_of_an_unedited_regeneration_is_refused():
    regenerated = smooth_image(64, 64, seed=2)
    with pytest.raises(InvalidSyntax, match="already equals the original"):
        pixels.encode_residual(regenerated.copy(), regenerated, "webp:10")


def test_residual_cost_says_bytes_and_psnr_with_and_without():
    regenerated = dark_regeneration()
    original = edited(regenerated)
    codec_id, data = pixels.encode_residual(original, regenerated, "webp:90")
    cost = pixels.residual_cost(original, regenerated, codec_id, data)
    assert cost["bytes"] == len(data) and cost["exact"] is False
    assert cost["psnr_without"] == pytest.approx(metrics.psnr(regenerated, original))
    assert cost["psnr"] > cost["psnr_without"]
    line = pixels.describe_residual_cost(cost, "webp:90")
    assert f"{len(data)} bytes" in line and "lossy" in line and f"{cost['psnr_without']:.2f} dB" in line
    exact = pixels.residual_cost(original, regenerated, *pixels.encode_residual(original, regenerated, "coset:2"))
    assert exact["exact"] is True and exact["psnr"] == float("inf")
    assert "identical" in pixels.describe_residual_cost(exact, "coset:2")


def test_payload_lossless_is_read_from_the_bytes():
    image = smooth_image(32, 32, seed=1)
    assert pixels.payload_is_lossless(*pixels.encode_pixels(image, "png")) is True
    assert pixels.payload_is_lossless(*pixels.encode_pixels(image, "webp:lossless")) is True
    assert pixels.payload_is_lossless(*pixels.encode_pixels(image, "webp:80")) is False
    assert pixels.payload_is_lossless(*pixels.encode_pixels(image, "jpeg:85")) is False
    import io

    buf = io.BytesIO()
    image.save(buf, "JPEG")
    assert pixels.payload_is_lossless(*pixels.encode_verbatim(buf.getvalue())) is False
    assert pixels.describe_payload(*pixels.encode_pixels(image, "webp:80")) == "webp (lossy)"
    assert pixels.describe_payload(*pixels.encode_pixels(image, "png")) == "png"
