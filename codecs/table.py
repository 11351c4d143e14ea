"""The codec table and dispatch: which codec a spec names, encode and decode by codec ID.

Codec IDs and bitstreams: spec/codecs.md.  nvtc/ and nvtc/codec.py import neither torch
nor constriction at module level, so importing this stays cheap for the classical codecs.
"""

from __future__ import annotations

from PIL import Image

from aigif.errors import AigifError, CodecError, InvalidSyntax, MissingExtra, UnknownCodec

from . import classical, groupmask
from .base import GROUP_MASK, NVTC, OMNI_ICM, RESERVED, VERBATIM, CodecInfo, parse_spec
from .nvtc import codec as nvtc_codec
from .nvtc import info as nvtc_info
from .nvtc import parse_rate as nvtc_parse_rate
from .omni import codec as omni_codec
from .omni import info as omni_info


BUILTIN_GROUPS = 4  # groups of the built-in split when "groupmask:Q" names none


def groupmask_info() -> CodecInfo:
    """Codec 17 runs on NVTC: available exactly when the Q forms of nvtc are."""
    nv = nvtc_info()
    ok = nv.available and "10..100" in nv.rate_points
    reason = nv.reason or ("" if ok else "the NVTC fine-tunes of every Q band are not installed")
    return CodecInfo(
        GROUP_MASK, "groupmask", False, ["10..100", "10..100/1..16"],
        "group-mask structured coding: each group of a label mask (--mask LABELS.png, else a built-in k-means "
        "colour+position split into G regions, default 4 - not a semantic segmentation) coded on its own as NVTC at Q; "
        "selective decoding by group (unpack --groups)",
        available=ok, reason=reason, default_rate="80",
    )


def list_codecs() -> list[CodecInfo]:
    return classical.infos() + [nvtc_info(), groupmask_info(), omni_info()]


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


def encode_with(info: CodecInfo, rate: str | None, image: Image.Image, *, mask: Image.Image | None = None,
                group_cap: float | None = None) -> tuple[int, bytes]:
    """Encode a PIL image with a codec already looked up (lookup(spec)); mask, group_cap:
    codec 17's label image and rate cap (groupmask.encode's rate_cap, a share 0..1)."""
    if not isinstance(image, Image.Image):
        raise InvalidSyntax(f"expected a PIL image, got {type(image).__name__}")
    if image.width <= 0 or image.height <= 0:
        raise InvalidSyntax("cannot encode an empty image")
    if mask is not None and info.id != GROUP_MASK:
        raise InvalidSyntax(f"a group mask is for codec groupmask, not {info.name}")
    if group_cap is not None and info.id != GROUP_MASK:
        raise InvalidSyntax(f"a group rate cap is for codec groupmask, not {info.name}")
    if info.id == GROUP_MASK:
        from .segment import builtin_groups  # lazy: only the encoder of codec 17 without a mask needs it

        q, _, n = rate.partition("/")
        if mask is not None and n:
            raise InvalidSyntax("groupmask: give either a mask or a number of built-in groups, not both")
        labels = (groupmask.mask_from_image(mask, image.size) if mask is not None
                  else builtin_groups(image, int(n or BUILTIN_GROUPS)))
        return GROUP_MASK, groupmask.encode(image, labels, q, rate_cap=group_cap)
    if info.id == NVTC:
        return NVTC, nvtc_codec.encode(image, **nvtc_parse_rate(rate))
    if info.id == OMNI_ICM:
        q, _, grid = rate.partition("/")
        return OMNI_ICM, omni_codec.encode(image, int(q), grid=int(grid or 0))
    if info.id == VERBATIM:
        raise InvalidSyntax("verbatim keeps file bytes: call aigif_codecs.encode_verbatim(data)")
    return info.id, classical.encode(info, rate, image)


def encode(image: Image.Image, spec: str, *, mask: Image.Image | None = None,
           group_cap: float | None = None) -> tuple[int, bytes]:
    """Encode a PIL image with the codec named by spec ("png", "webp:80", "nvtc:2", "groupmask:80")."""
    info, rate = lookup(spec)
    return encode_with(info, rate, image, mask=mask, group_cap=group_cap)


def encode_verbatim(data: bytes) -> tuple[int, bytes]:
    """Keep a PNG/JPEG/WebP file's bytes untouched (codec 6), after checking it decodes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidSyntax("encode_verbatim takes the bytes of an image file")
    return VERBATIM, classical.encode_verbatim(bytes(data))


def decode(codec_id: int, data: bytes, *, max_pixels: int, groups: list[int] | None = None) -> Image.Image:
    """Decode a payload; raises CodecError, UnknownCodec, LimitExceeded or MissingExtra.
    groups: codec 17 only, the labels to decode (RGBA, transparent elsewhere)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if groups is not None and codec_id != GROUP_MASK:
        raise InvalidSyntax(f"--groups is for group-mask payloads (codec {GROUP_MASK}), this one is codec {codec_id}")
    if codec_id == GROUP_MASK:
        info = groupmask_info()
        if not info.available and "weights" not in info.reason and "installed" not in info.reason:
            raise unavailable(info)
        return groupmask.decode(data, max_pixels=max_pixels, groups=groups)[0]
    if codec_id == NVTC:
        info = nvtc_info()
        if not info.available and "weights" not in info.reason:
            raise unavailable(info)  # torch/constriction missing; unknown weights are a CodecError
        return nvtc_codec.decode(data, max_pixels=max_pixels)
    if codec_id == OMNI_ICM:
        raise CodecError("this payload holds Omni-ICM features for machine tasks (codec 18), not pixels: "
                         "read them with `aigif features FILE` (aigif_codecs.features)")
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


def features(codec_id: int, data: bytes, *, max_pixels: int):
    """Codec 18: the decoded feature array (omni.codec.Features: int8 (C, rows, cols) and its step)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"payload must be bytes, got {type(data).__name__}")
    if codec_id != OMNI_ICM:
        raise CodecError(f"codec {codec_id} payloads hold pixels, not features: only codec {OMNI_ICM} (omni) decodes to features")
    info = omni_info()
    if not info.available and "weights" not in info.reason:
        raise unavailable(info)  # torch/constriction missing; missing weights are a CodecError
    return omni_codec.decode(bytes(data), max_pixels=max_pixels)


def group_sizes(codec_id: int, data: bytes, *, max_pixels: int) -> list[dict] | None:
    """Codec 17: per group its label, pixels and stream bytes (aigif info); None for other codecs."""
    if codec_id != GROUP_MASK:
        return None
    return groupmask.group_sizes(bytes(data), max_pixels=max_pixels)
