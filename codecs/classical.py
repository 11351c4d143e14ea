"""Classical fallback codecs through Pillow: PNG, WebP, AVIF, JPEG XL, JPEG, verbatim.

Each payload is a standard image file, so the container describes itself (dimensions,
mode, quality are in the file).  Decoding checks the container's format against the
codec ID and the header's pixel count against max_pixels before any pixel is decoded.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, features

from aigif.errors import CodecError, InvalidSyntax, LimitExceeded
from aigif.imagemodes import has_alpha

from .base import AVIF, JPEG, JXL, PNG, VERBATIM, WEBP, CodecInfo

# Pillow's own bomb guard would warn (and raise at 2x) on its default 89 Mpx; our
# max_pixels check runs first, so only the Pillow error needs mapping.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
               struct.error, ZeroDivisionError, MemoryError)

_FORMAT_OF = {PNG: {"PNG"}, WEBP: {"WEBP"}, AVIF: {"AVIF"}, JXL: {"JXL"}, JPEG: {"JPEG"},
              VERBATIM: {"PNG", "JPEG", "WEBP"}}
_QUALITY = "0..100"


def _has(feature: str) -> bool:
    try:
        return bool(features.check(feature))
    except (ValueError, OSError):
        return False


def _register_jxl() -> bool:
    """Pillow learns JPEG XL from the pillow-jxl-plugin package (in the codecs extra) on import."""
    try:
        import pillow_jxl  # noqa: F401
    except ImportError:
        pass
    return "JXL" in Image.registered_extensions().values()


def infos() -> list[CodecInfo]:
    jxl_ok = _register_jxl()
    return [
        CodecInfo(PNG, "png", True, [], "PNG, zlib level 9 (lossless)", default_rate=None),
        CodecInfo(WEBP, "webp", False, ["lossless", _QUALITY], "WebP via libwebp; RATE = quality or 'lossless'",
                  available=_has("webp"), reason="" if _has("webp") else "Pillow built without libwebp",
                  default_rate="80"),
        CodecInfo(AVIF, "avif", False, [_QUALITY], "AVIF (AV1 intra) via libavif, 4:4:4; RATE = quality",
                  available=_has("avif"), reason="" if _has("avif") else "Pillow built without libavif",
                  default_rate="60"),
        CodecInfo(JXL, "jxl", False, ["lossless", _QUALITY], "JPEG XL; needs a Pillow JXL plugin",
                  available=jxl_ok,
                  reason="" if jxl_ok else "no JPEG XL plugin for Pillow is installed (pillow-jxl-plugin)",
                  default_rate="90"),
        CodecInfo(JPEG, "jpeg", False, [_QUALITY], "baseline JPEG via libjpeg(-turbo), 4:2:0; RATE = quality",
                  default_rate="85"),
        CodecInfo(VERBATIM, "verbatim", True, [],
                  "the bytes of a PNG/JPEG/WebP file kept untouched (see encode_verbatim)", default_rate=None),
    ]


def _rgb_or_rgba(image: Image.Image, *, alpha_ok: bool, codec: str) -> Image.Image:
    if has_alpha(image):
        if not alpha_ok:
            raise InvalidSyntax(f"{codec} cannot carry an alpha channel; use png or webp")
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("RGB", "L") and codec != "webp":
        return image
    return image if image.mode == "RGB" else image.convert("RGB")


def encode(info: CodecInfo, rate: str | None, image: Image.Image) -> bytes:
    buf = io.BytesIO()
    try:
        if info.id == PNG:
            im = image if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16") else image.convert("RGBA")
            im.save(buf, "PNG", optimize=False, compress_level=9)
        elif info.id == WEBP:
            im = _rgb_or_rgba(image, alpha_ok=True, codec="webp")
            # method 4 is libwebp's default and the CompressAI anchor's setting; lossless
            # quality 100 / method 6 costs 100x the time for ~1 % fewer bytes
            if rate == "lossless":
                im.save(buf, "WEBP", lossless=True, quality=80, method=4, exact=True)
            else:
                im.save(buf, "WEBP", quality=int(rate), method=4)
        elif info.id == AVIF:
            im = _rgb_or_rgba(image, alpha_ok=True, codec="avif")
            im.save(buf, "AVIF", quality=int(rate), subsampling="4:4:4", speed=6)
        elif info.id == JXL:
            im = _rgb_or_rgba(image, alpha_ok=True, codec="jxl")
            # libjxl's quality 100 *is* its lossless mode, which the plugin only takes as lossless=True
            if rate == "lossless" or int(rate) == 100:
                im.save(buf, "JXL", lossless=True)
            else:
                im.save(buf, "JXL", quality=int(rate))
        elif info.id == JPEG:
            im = _rgb_or_rgba(image, alpha_ok=False, codec="jpeg")
            im.save(buf, "JPEG", quality=int(rate), subsampling="4:2:0", optimize=True)
        else:
            raise InvalidSyntax(f"codec {info.name} has no image encoder")
    except (OSError, ValueError, KeyError) as e:
        raise CodecError(f"{info.name} encoder failed: {e}") from None
    return buf.getvalue()


def encode_verbatim(data: bytes, *, max_pixels: int | None = None) -> bytes:
    """Keep an imported PNG/JPEG/WebP file as it is, after checking that it decodes."""
    decode(VERBATIM, data, max_pixels=max_pixels or (1 << 28))
    return bytes(data)


def decode(codec_id: int, data: bytes, *, max_pixels: int) -> Image.Image:
    name = {PNG: "png", WEBP: "webp", AVIF: "avif", JXL: "jxl", JPEG: "jpeg", VERBATIM: "verbatim"}[codec_id]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=sorted(_FORMAT_OF[codec_id]))
            w, h = im.size
            if w <= 0 or h <= 0:
                raise CodecError(f"{name} payload declares an empty image")
            if w * h > max_pixels:
                raise LimitExceeded(f"{name} payload is {w}x{h} = {w * h} pixels, over the limit {max_pixels}")
            if im.format not in _FORMAT_OF[codec_id]:
                raise CodecError(f"payload is {im.format}, not {name}")
            if getattr(im, "n_frames", 1) != 1:
                raise CodecError(f"{name} payload has {im.n_frames} frames; one is expected")
            im.load()
    except (CodecError, LimitExceeded):
        raise
    except Image.DecompressionBombError as e:
        raise LimitExceeded(f"{name} payload: {e}") from None
    except _PIL_ERRORS as e:
        raise CodecError(f"corrupt {name} payload: {type(e).__name__}: {e}") from None
    return im
