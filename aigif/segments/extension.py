"""The EXTENSION segment body (spec §7.1): LEB128 extension code + one msgpack value.

Which codes exist, their value checks and compact forms: `extensions.py`.
"""

from __future__ import annotations

import msgpack

from .. import limits
from ..bits import leb128, read_leb128
from ..container import ANCILLARY, EXTENSION, SAFE_TO_COPY, Segment
from ..errors import LimitExceeded, MalformedField, MalformedSegment, Truncated, UnknownCritical
from ..extensions import BY_CODE, BY_NAME, COMPACT, RawExtension, from_compact, is_elided_default, json_value_problem


def _no_ext(code, data):
    raise MalformedField("msgpack ext types are not allowed in extensions")


def unpack_msgpack(data: bytes):
    if len(data) > limits.MAX_EXTENSION_BYTES:
        raise LimitExceeded(f"extension of {len(data)} bytes is over the limit")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext, use_list=True)
    except MalformedField:
        raise
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise MalformedField(f"extension payload is not one valid msgpack object: {type(e).__name__}") from None


def extension_code(seg: Segment) -> int:
    """The code an EXTENSION segment written by `encode_extension` starts with."""
    return read_leb128(seg.body, 0)[0]


def encode_extension(name: str, value) -> Segment:
    if isinstance(value, RawExtension):
        t = (0 if value.critical else ANCILLARY) | (SAFE_TO_COPY if value.safe_to_copy and not value.critical else 0)
        return Segment(t | EXTENSION, leb128(value.code) + value.payload)
    ext = BY_NAME[name]
    t = EXTENSION if ext.critical else ANCILLARY | SAFE_TO_COPY | EXTENSION
    if name in COMPACT:
        value = COMPACT[name][0](value)
    payload = msgpack.packb(value, use_bin_type=True)
    if len(payload) > limits.MAX_EXTENSION_BYTES:
        raise LimitExceeded(f"extension '{name}' of {len(payload)} bytes is over the {limits.MAX_EXTENSION_BYTES}-byte limit")
    return Segment(t, leb128(ext.code) + payload)


def decode_extension(seg: Segment) -> tuple[str, object]:
    try:
        code, pos = read_leb128(seg.body, 0, max_bytes=3, what="extension code")
    except (Truncated, MalformedSegment) as e:
        raise MalformedField(f"EXTENSION segment: {e.args[0]}") from None
    ext = BY_CODE.get(code)
    if ext is None:
        if seg.critical:
            raise UnknownCritical(f"unknown critical extension {code}", extension=code)
        raw = RawExtension(code, False, seg.safe_to_copy, bytes(seg.body[pos:]))
        return raw.json_key, raw
    if ext.critical != seg.critical:
        raise MalformedSegment(f"extension '{ext.name}' must be {'critical' if ext.critical else 'ancillary'}")
    value = from_compact(ext.name, unpack_msgpack(seg.body[pos:]))
    problem = json_value_problem(value)
    if problem:
        raise MalformedField(f"extension '{ext.name}': {problem}")
    if value is None or not ext.check(value):
        raise MalformedField(f"extension '{ext.name}' has an invalid value")
    if is_elided_default(ext.name, value):
        raise MalformedField(f"extension '{ext.name}' written with its default value {value!r} (spec §7.1.1: left out)")
    return ext.name, value


def extension_name(seg: Segment) -> str:
    """What `inspect` calls an EXTENSION segment: the extension's name, else its code."""
    code = extension_code(seg)
    return BY_CODE[code].name if code in BY_CODE else str(code)
