"""aigif_codecs: fallback pixel codecs for images that cannot be regenerated.

    list_codecs() -> list[CodecInfo]
    encode(image, "webp:80") -> (codec_id, bytes)
    decode(codec_id, data, max_pixels=...) -> PIL.Image.Image
    encode_verbatim(file_bytes) -> (6, bytes)          # keep an imported file untouched
    residual.encode(original, regenerated, "png") / residual.decode(...)

Codec IDs and bitstreams: spec/codecs.md.  torch and constriction are imported only
when NVTC (ID 16) is used, so the classical codecs need only Pillow and numpy.
"""

from __future__ import annotations

from PIL import Image

from aigif.errors import AigifError, CodecError, InvalidSyntax, MissingExtra, UnknownCodec

from . import classical, residual
from .base import NVTC, RESERVED, VERBATIM, CodecInfo, parse_spec

__all__ = ["CodecInfo", "decode", "encode", "encode_verbatim", "list_codecs", "residual"]


def list_codecs() -> list[CodecInfo]:
    from .nvtc import info as nvtc_info

    return classical.infos() + [nvtc_info()]


def _table() -> dict[str, CodecInfo]:
    return {c.name: c for c in list_codecs()}


def _lookup(spec: str) -> tuple[CodecInfo, str | None]:
    info, rate = parse_spec(spec, _table())
    if not info.available:
        raise _unavailable(info)
    return info, rate


def _unavailable(info: CodecInfo) -> MissingExtra:
    """A codec this build knows but cannot run (plugin, torch or weights missing)."""
    return MissingExtra(f"codec {info.name} (ID {info.id}) is not available here: {info.reason}", extra="codecs")


def _encode_checked(info: CodecInfo, rate: str | None, image: Image.Image) -> tuple[int, bytes]:
    if not isinstance(image, Image.Image):
        raise InvalidSyntax(f"expected a PIL image, got {type(image).__name__}")
    if image.width <= 0 or image.height <= 0:
        raise InvalidSyntax("cannot encode an empty image")
    if info.id == NVTC:
        from .nvtc import codec as nvtc_codec

        return NVTC, nvtc_codec.encode(image, int(rate))
    if info.id == VERBATIM:
        raise InvalidSyntax("verbatim keeps file bytes: call aigif_codecs.encode_verbatim(data)")
    return info.id, classical.encode(info, rate, image)


def encode(image: Image.Image, spec: str) -> tuple[int, bytes]:
    """Encode a PIL image with the codec named by spec ("png", "webp:80", "nvtc:2")."""
    info, rate = _lookup(spec)
    return _encode_checked(info, rate, image)


def encode_verbatim(data: bytes) -> tuple[int, bytes]:
    """Keep a PNG/JPEG/WebP file's bytes untouched (codec 6), after checking it decodes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidSyntax("encode_verbatim takes the bytes of an image file")
    return VERBATIM, classical.encode_verbatim(bytes(data))


def decode(codec_id: int, data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode a payload; raises CodecError, UnknownCodec, LimitExceeded or MissingExtra."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if codec_id == NVTC:
        from .nvtc import info as nvtc_info

        info = nvtc_info()
        if not info.available and "weights" not in info.reason:
            raise _unavailable(info)  # torch/constriction missing; unknown weights are a CodecError
        from .nvtc import codec as nvtc_codec

        return nvtc_codec.decode(data, max_pixels=max_pixels)
    if codec_id in RESERVED:
        raise UnknownCodec(f"codec ID {codec_id} is reserved for {RESERVED[codec_id]} and not implemented")
    known = {c.id: c for c in classical.infos()}
    info = known.get(codec_id)
    if info is None:
        raise UnknownCodec(f"unknown codec ID {codec_id}")
    if not info.available:
        raise _unavailable(info)
    try:
        return classical.decode(codec_id, data, max_pixels=max_pixels)
    except AigifError:
        raise
    except Exception as e:  # a decoder library bug must still surface as a codec error
        raise CodecError(f"{info.name} decoder failed: {type(e).__name__}: {e}") from None
