"""PNG chunk framing: the signature, a bounded chunk walk, and chunk writing.

    file  = SIGNATURE(8) chunk*
    chunk = LENGTH(4, big-endian) TYPE(4) BODY(LENGTH) CRC(4, CRC-32 of TYPE + BODY)

Used by the importers (reading metadata chunks) and the exporters (writing a
`parameters` chunk); what a chunk means is theirs to know.  The walk trusts no length
field and copies no body: a `Chunk` says where its body lies, and the caller reads only
the bodies it keeps (a `FileBytes` view of a large image is never read whole).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from . import limits
from .errors import LimitExceeded

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Chunk:
    type: bytes
    start: int  # offset of the length field
    length: int
    complete: bool  # False: the file ends inside this chunk's body or CRC (always the last one)

    @property
    def body_start(self) -> int:
        return self.start + 8

    @property
    def body_end(self) -> int:
        return self.start + 8 + self.length

    @property
    def end(self) -> int:
        return self.start + 12 + self.length


def chunks(data, start: int = len(SIGNATURE)) -> Iterator[Chunk]:
    """The chunks of `data` (bytes or a bytes-like view) after the signature, in order.

    Stops after IEND, at a chunk the file ends inside (yielded with complete=False), or
    where fewer than 8 bytes are left for a chunk header (the caller tells which from the
    last chunk it got).
    More than `limits.MAX_PNG_CHUNKS` chunks is LimitExceeded: a hostile file could hold
    millions of empty ones.
    """
    pos = start
    n = 0
    while pos + 8 <= len(data):
        n += 1
        if n > limits.MAX_PNG_CHUNKS:
            raise LimitExceeded(f"PNG has more than {limits.MAX_PNG_CHUNKS} chunks", limit="MAX_PNG_CHUNKS")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = Chunk(ctype, pos, length, pos + 12 + length <= len(data))
        yield chunk
        if not chunk.complete or ctype == b"IEND":
            return
        pos = chunk.end


def crc_ok(data, chunk: Chunk) -> bool:
    body = data[chunk.body_start : chunk.body_end]
    return zlib.crc32(body, zlib.crc32(chunk.type)) == struct.unpack(">I", data[chunk.body_end : chunk.end])[0]


def write_chunk(ctype: bytes, body: bytes) -> bytes:
    """One framed chunk, CRC included."""
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)
