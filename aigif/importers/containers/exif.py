"""A minimal, bounded EXIF (TIFF IFD) reader for the few tags generation tools write text
into.  Pillow's reader is not used because it decodes UserComment without its charset
header and drops ASCII tags that hold UTF-8."""

from __future__ import annotations

import struct

from aigif import limits
from aigif.errors import LimitExceeded

from .fields import Container, Field
from .text import latin1_or_utf8, max_field

TAGS = {
    0x010D: "DocumentName",
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x9286: "UserComment",
    0x927C: "MakerNote",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
}
EXIF_IFD_POINTER = 0x8769
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}

# ComfyUI's SaveAnimatedWEBP and several custom save nodes put the graphs into Make/Model/
# ImageDescription as "prompt:{...}" / "Workflow: {...}".
_GRAPH_PREFIXES = ("prompt:", "workflow:")


def read_into(c: Container, blob: bytes, where: str) -> None:
    if blob.startswith(b"Exif\0\0"):
        blob = blob[6:]
    try:
        _read(c, blob, where)
    except (struct.error, IndexError, ValueError) as e:
        c.warnings.append(f"{where}: corrupt EXIF ({e}); fields before the damage were kept")


def _read(c: Container, tiff: bytes, where: str) -> None:
    if tiff[:2] == b"II":
        bo = "<"
    elif tiff[:2] == b"MM":
        bo = ">"
    else:
        raise ValueError("no TIFF byte-order mark")
    if struct.unpack(bo + "H", tiff[2:4])[0] != 42:
        raise ValueError("bad TIFF magic")
    todo = [struct.unpack(bo + "I", tiff[4:8])[0]]
    seen: set[int] = set()
    # Many IFD entries can point at one big value: without a total cap a 1 MB file
    # amplifies into a gigabyte of copies.  Duplicates are read once, and all EXIF text of
    # the container together is capped like PNG text (limits.MAX_IMPORT_TEXT_TOTAL).
    read_values: set[tuple[int, int, int]] = set()
    total = sum(f.size for f in c.fields if "exif" in f.where.lower())
    while todo and len(seen) < limits.MAX_EXIF_IFDS:
        off = todo.pop(0)
        if off in seen or off + 2 > len(tiff):
            continue
        seen.add(off)
        count = struct.unpack(bo + "H", tiff[off : off + 2])[0]
        if count > limits.MAX_EXIF_IFD_ENTRIES:
            raise ValueError(f"IFD with {count} entries")
        for i in range(count):
            e = off + 2 + 12 * i
            if e + 12 > len(tiff):
                raise ValueError("IFD runs past the end of the EXIF block")
            tag, typ, n = struct.unpack(bo + "HHI", tiff[e : e + 8])
            if tag == EXIF_IFD_POINTER:
                todo.append(struct.unpack(bo + "I", tiff[e + 8 : e + 12])[0])
                continue
            name = TAGS.get(tag)
            if name is None or typ not in TYPE_SIZES:
                continue
            size = TYPE_SIZES[typ] * n
            if size > max_field() + 8:
                c.warnings.append(f"{where}: EXIF {name} of {size} bytes skipped (over MAX_TEXT_BYTES)")
                continue
            if size <= 4:
                raw = tiff[e + 8 : e + 8 + size]
            else:
                vo = struct.unpack(bo + "I", tiff[e + 8 : e + 12])[0]
                if vo + size > len(tiff):
                    c.warnings.append(f"{where}: EXIF {name} points past the end of the block")
                    continue
                if (tag, vo, size) in read_values:
                    continue
                read_values.add((tag, vo, size))
                raw = tiff[vo : vo + size]
            total += size
            if total > limits.MAX_IMPORT_TEXT_TOTAL:
                raise LimitExceeded("EXIF text exceeds MAX_IMPORT_TEXT_TOTAL", limit="MAX_IMPORT_TEXT_TOTAL")
            value = _decode(name, raw, bo == ">", c, where)
            if value is None or not value.strip("\0 "):
                continue
            key = name
            low = value.lstrip().lower()
            for p in _GRAPH_PREFIXES:
                if low.startswith(p):
                    key = p[:-1]
                    value = value.lstrip()[len(p) :].lstrip()
                    break
            c.fields.append(Field(f"{where}:{name}", key, value, size))
        nxt = off + 2 + 12 * count
        if nxt + 4 <= len(tiff):
            link = struct.unpack(bo + "I", tiff[nxt : nxt + 4])[0]
            if link:
                todo.append(link)


def _decode(name: str, raw: bytes, big_endian: bool, c: Container, where: str) -> str | None:
    if name == "UserComment":
        return decode_user_comment(raw, big_endian)
    if name.startswith("XP"):
        return raw.decode("utf-16-le", "replace").rstrip("\0")
    value, repaired = latin1_or_utf8(raw.rstrip(b"\0"))
    if repaired:
        c.warnings.append(f"{where}: EXIF {name} held UTF-8 in an ASCII tag (mojibake repaired)")
    # NovelAI's WebP prefixes ImageDescription with NUL bytes.
    return value.lstrip("\0")


def decode_user_comment(raw: bytes, big_endian: bool) -> str:
    """EXIF 0x9286: an 8-byte charset header, then the text.

    "UNICODE\\0" is UTF-16 in the EXIF byte order by the standard, but writers disagree
    (piexif always writes big-endian, some Windows tools little-endian), so the order is
    taken from the bytes when they say so clearly.  No header at all also occurs
    (ComfyUI SaveImage Plus): then it is UTF-8, or UTF-16 if it looks like it.
    """
    head, body = raw[:8], raw[8:]
    if head == b"UNICODE\0":
        return decode_utf16(body, big_endian)
    if head == b"ASCII\0\0\0":
        return latin1_or_utf8(body.rstrip(b"\0"))[0]
    if head == b"JIS\0\0\0\0\0":
        return body.rstrip(b"\0").decode("shift_jis", "replace")
    if head == b"\0" * 8:
        raw = body
    order = _utf16_order(raw)
    if order:
        return decode_utf16(raw, order == ">")
    return latin1_or_utf8(raw.rstrip(b"\0"))[0]


def _utf16_order(b: bytes) -> str | None:
    if b[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "<" if b[:2] == b"\xff\xfe" else ">"
    sample = b[:512]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and even < odd / 4:
        return "<"
    if even > half * 0.3 and odd < even / 4:
        return ">"
    return None


def decode_utf16(body: bytes, big_endian: bool) -> str:
    if body[:2] == b"\xff\xfe":
        return body[2:].decode("utf-16-le", "replace").rstrip("\0")
    if body[:2] == b"\xfe\xff":
        return body[2:].decode("utf-16-be", "replace").rstrip("\0")
    order = _utf16_order(body)
    if order:
        big_endian = order == ">"
    if len(body) % 2:
        body = body[:-1]
    return body.decode("utf-16-be" if big_endian else "utf-16-le", "replace").rstrip("\0")
