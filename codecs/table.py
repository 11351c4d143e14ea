"""The codec table and dispatch: which codec a spec names, encode and decode by codec ID.

Codec IDs and bitstreams: spec/codecs.md.  nvtc/ and nvtc/codec.py import neither torch
nor constriction at module level, so importing this stays cheap for the classical codecs.
"""

from __future__ import annotations

from PIL import Image

from aigif.errors import AigifError, CodecError, InvalidSyntax, MissingExtra, UnknownCodec

from . import classical
from .base import NVTC, RESERVED, VERBATIM, CodecInfo, parse_spec
from .nvtc import codec as nvtc_codec
from .nvtc import info as nvtc_info
from .nvtc import parse_rate as nvtc_parse_rate


def list_codecs() -> list[CodecInfo]:
    return classical.infos() + [nvtc_info()]


def _table() -> dict[str, CodecInfo]:
    return {c.name: c for c in list_codecs()}


def lookup(spec: str) -> tuple[CodecInfo, str | None]:
    """The codec and rate a spec ("png", "webp:80", "nvtc:2") names; refused if this build cannot run it."""
    info, rate = parse_spec(spec, _table())
    if not info.available:
        raise unavailable(info)
    return info, rate


def unavailable(info: CodecInfo) -> MissingExtra:
    """A codec this build knows but cannot run (plugin, torch or weights missing)."""
    return MissingExtra(f"codec {info.name} (ID {info.id}) is not available here: {info.reason}", extra="codecs")


def encode_with(info: CodecInfo, rate: str | None, image: Image.Image) -> tuple[int, bytes]:
    """Encode a PIL image with a codec already looked up (lookup(spec))."""
    if not isinstance(image, Image.Image):
        raise InvalidSyntax(f"expected a PIL image, got {type(image).__name__}")
    if image.width <= 0 or image.height <= 0:
        raise InvalidSyntax("cannot encode an empty image")
    if info.id == NVTC:
        return NVTC, nvtc_codec.encode(image, **nvtc_parse_rate(rate))
    if info.id == VERBATIM:
        raise InvalidSyntax("verbatim keeps file bytes: call aigif_codecs.encode_verbatim(data)")
    return info.id, classical.encode(info, rate, image)


def encode(image: Image.Image, spec: str) -> tuple[int, bytes]:
    """Encode a PIL image with the codec named by spec ("png", "webp:80", "nvtc:2")."""
    info, rate = lookup(spec)
    return encode_with(info, rate, image)


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
        info = nvtc_info()
        if not info.available and "weights" not in info.reason:
            raise unavailable(info)  # torch/constriction missing; unknown weights are a CodecError
        return nvtc_codec.decode(data, max_pixels=max_pixels)
    if codec_id in RESERVED:
        raise UnknownCodec(f"codec ID {codec_id} is reserved for {RESERVED[codec_id]} and not implemented")
    known = {c.id: c for c in classical.infos()}
    info = known.get(codec_id)
    if info is None:
        raise UnknownCodec(f"unknown codec ID {codec_id}")
    if not info.available:
        raise unavailable(info)
    try:
        return classical.decode(codec_id, data, max_pixels=max_pixels)
    except AigifError:
        raise
    except Exception as e:  # a decoder library bug must still surface as a codec error
        raise CodecError(f"{info.name} decoder failed: {type(e).__name__}: {e}") from None
