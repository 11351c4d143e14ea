"""The one entry to `aigif_codecs` (the [codecs] extra): pixel payloads and residuals.

Everything outside this module that codes pixels goes through it, so the extra is
required in one place and the residual choice (coset, codec 32, or a pixel codec's
residual) is written once.
"""

from __future__ import annotations

from . import coset, limits, metrics
from ._extras import require
from .errors import CodecError, MissingExtra, UnknownCodec


def codecs():
    """The aigif_codecs package, or MissingExtra naming the pip command."""
    require("codecs")
    # lazy: aigif_codecs is the [codecs] extra (numpy, Pillow plugins); import aigif must not need it
    import aigif_codecs

    return aigif_codecs


def list_codecs():
    return codecs().list_codecs()


def encode_pixels(image, spec: str | None = None, mask=None, group_cap: float | None = None) -> tuple[int, bytes]:
    """(codec ID, bytes) of a pixel payload; spec NAME[:RATE] as `aigif codecs` lists (default png);
    mask, group_cap: codec groupmask's label image and per-group rate cap (a share 0..1)."""
    extra = {k: v for k, v in (("mask", mask), ("group_cap", group_cap)) if v is not None}
    return codecs().encode(image, "png" if spec is None else spec, **extra)


def encode_verbatim(file_bytes: bytes) -> tuple[int, bytes]:
    """Codec 6: an image file kept as it is (after checking that it decodes)."""
    return codecs().encode_verbatim(file_bytes)


def decode_pixels(codec_id: int, data: bytes, max_pixels: int | None = None, groups: list[int] | None = None):
    """A pixel payload -> PIL.Image (at most `max_pixels`, default limits.MAX_PIXELS);
    groups: a group-mask payload's labels to decode (the others transparent)."""
    extra = {} if groups is None else {"groups": groups}
    try:
        return codecs().decode(codec_id, data, max_pixels=limits.MAX_PIXELS if max_pixels is None else max_pixels, **extra)
    except (CodecError, MissingExtra):
        raise
    except KeyError:
        raise UnknownCodec(f"codec ID {codec_id}") from None


def group_sizes(codec_id: int, data: bytes) -> list[dict] | None:
    """A group-mask payload's groups (label, pixels, stream bytes); None for other codecs."""
    if codec_id != 17:
        return None
    return codecs().group_sizes(codec_id, data, max_pixels=limits.MAX_PIXELS)


def is_coset(spec: str | None) -> bool:
    """Whether a residual codec spec names the coset code (the default: it survives platform drift)."""
    return spec is None or spec.startswith("coset")


def encode_residual(original, regenerated, spec: str | None = None) -> tuple[int, bytes]:
    """(codec ID, bytes) that turn `regenerated` into `original`: the coset code (spec
    §7.4.1) unless `spec` names a pixel codec, whose residual is exact only on the
    encoder's platform (spec/codecs.md)."""
    if is_coset(spec):
        return coset.encode(original, regenerated, spec)
    return codecs().residual.encode(original, regenerated, spec)


def apply_residual(codec_id: int, data: bytes, regenerated):
    """The inverse of encode_residual, on the decoder's own regeneration."""
    if codec_id == coset.CODEC_ID:
        return coset.apply(codec_id, data, regenerated)
    return codecs().residual.decode(codec_id, data, regenerated, max_pixels=limits.MAX_PIXELS)


# Codecs whose every payload is lossless, and those whose every payload is lossy (spec/codecs.md §1);
# WebP, JPEG XL and verbatim payloads say which they are in their own bytes.
_LOSSLESS_IDS = {1}
_LOSSY_IDS = {3, 5, 16, 17}
WEBP_ID, JXL_ID, VERBATIM_ID = 2, 4, 6
# the normative names (spec/codecs.md §1, AIGIF.md §7.4.1), for messages: no codec module is loaded to name one
CODEC_NAMES = {1: "png", 2: "webp", 3: "avif", 4: "jxl", 5: "jpeg", 6: "verbatim", 16: "nvtc", 17: "groupmask",
               18: "omni", coset.CODEC_ID: "coset"}
OMNI_ID = 18  # Omni-ICM: the payload decodes to features for machines, not pixels (aigif features)


def payload_is_lossless(codec_id: int, data: bytes) -> bool | None:
    """Whether a pixel payload holds the encoder's image exactly: True, False, or None
    when its bytes do not say (JPEG XL).  Read from the codec ID and the payload's own
    headers, never from a decode."""
    if codec_id in _LOSSLESS_IDS or codec_id == coset.CODEC_ID:
        return True
    if codec_id in _LOSSY_IDS:
        return False
    head = bytes(data[:64])
    if codec_id == VERBATIM_ID:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return True
        if head.startswith(b"\xff\xd8"):
            return False
        codec_id = WEBP_ID if head.startswith(b"RIFF") else codec_id
    if codec_id == WEBP_ID:
        return _webp_is_lossless(data)
    return None


def _webp_is_lossless(data: bytes) -> bool | None:
    """A WebP is lossless when its image chunk is VP8L (an extended file: the first of
    VP8/VP8L after VP8X and the optional chunks)."""
    pos, end = 12, min(len(data), 1 << 20)
    while pos + 8 <= end:
        fourcc = bytes(data[pos : pos + 4])
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + length + (length & 1)
    return None


def residual_is_exact(codec_id: int, data: bytes) -> bool:
    """Whether a residual payload restores the encoder's original bit for bit on the
    encoder's platform: the coset code and kind-0 pixel residuals (spec/codecs.md §5)."""
    if codec_id == coset.CODEC_ID:
        return True
    return codecs().residual.is_exact(data)


def describe_payload(codec_id: int, data: bytes) -> str:
    """'png', 'webp (lossy)', ... for messages: a codec's name and whether it is lossy."""
    name = CODEC_NAMES.get(codec_id, f"codec {codec_id}")
    lossless = payload_is_lossless(codec_id, data)
    return name + ("" if lossless else " (lossy)" if lossless is False else " (lossless or lossy)")


def residual_cost(original, regenerated, codec_id: int, data: bytes) -> dict:
    """What a residual costs and buys, for the message `pack --residual` prints:
    bytes, and PSNR against the original with it and without it (the plain regeneration)."""
    restored = apply_residual(codec_id, data, regenerated)
    return {
        "bytes": len(data),
        "exact": residual_is_exact(codec_id, data),
        "psnr": metrics.psnr(restored, original),
        "psnr_without": metrics.psnr(regenerated, original),
        "restored": restored,
    }


def describe_residual_cost(cost: dict, spec: str | None) -> str:
    def db(x: float) -> str:
        return "identical" if x == float("inf") else f"{x:.2f} dB"

    kind = "exact" if cost["exact"] else "lossy"
    return (f"residual {spec or 'coset:2'} ({kind}): {cost['bytes']} bytes; PSNR vs the original "
            f"{db(cost['psnr'])} with it, {db(cost['psnr_without'])} for the plain regeneration")
