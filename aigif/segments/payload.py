"""PIXELS and RESIDUAL segment bodies (spec §7.4): LEB128 codec ID + the codec's bytes.

The codecs themselves: `coset.py` (codec 32) and `aigif_codecs` (spec/codecs.md).
"""

from __future__ import annotations

from ..bits import leb128, read_leb128
from ..container import ANCILLARY, PIXELS, RESIDUAL, Segment
from ..errors import MalformedField, MalformedSegment, Truncated
from ..syntax import Payload

PAYLOAD_KINDS = {PIXELS: "pixels", RESIDUAL: "residual"}


def encode_payload(p: Payload) -> Segment:
    kind = PIXELS if p.kind == "pixels" else RESIDUAL
    return Segment(kind if p.critical else ANCILLARY | kind, leb128(p.codec_id) + p.data)


def decode_payload(seg: Segment) -> Payload:
    try:
        codec_id, pos = read_leb128(seg.body, 0, max_bytes=3, what="codec ID")
    except (Truncated, MalformedSegment) as e:
        raise MalformedField(f"{seg.name} segment: {e.args[0]}") from None
    # the one copy of a payload the decoder makes (the container hands out views)
    return Payload(PAYLOAD_KINDS[seg.kind], codec_id, bytes(seg.body[pos:]), seg.critical)
