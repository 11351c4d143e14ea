"""aigif_codecs: fallback pixel codecs for images that cannot be regenerated.

    list_codecs() -> list[CodecInfo]
    encode(image, "webp:80") -> (codec_id, bytes)
    decode(codec_id, data, max_pixels=...) -> PIL.Image.Image
    encode_verbatim(file_bytes) -> (6, bytes)          # keep an imported file untouched
    encode(image, "groupmask:80", mask=labels_png[, group_cap=0.05]) / decode(17, data, ..., groups=[1, 3])
    group_sizes(17, data, max_pixels=...) -> [{label, pixels, bytes, box}]   # codec 17
    encode(image, "omni:5") / features(18, data, max_pixels=...) -> omni.codec.Features  # codec 18
    residual.encode(original, regenerated, "png") / residual.decode(...)

Codec IDs and bitstreams: spec/codecs.md.  torch and constriction are imported only
when NVTC (ID 16) or Omni-ICM (ID 18) is used, so the classical codecs need only Pillow and numpy.
"""

from __future__ import annotations

from . import residual
from .base import CodecInfo
from .table import decode, encode, encode_verbatim, features, group_sizes, list_codecs

__all__ = ["CodecInfo", "decode", "encode", "encode_verbatim", "features", "group_sizes", "list_codecs", "residual"]
