"""aigif.pngchunks: the one PNG chunk walk (importers and exporters share it)."""

import pytest

from aigif import limits, pngchunks
from aigif.errors import FormatError, LimitExceeded
from aigif.exporters.embed import embed_text


def png_of(*chunks: tuple[bytes, bytes]) -> bytes:
    return pngchunks.SIGNATURE + b"".join(pngchunks.write_chunk(t, b) for t, b in chunks)


IHDR = (b"IHDR", (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0]))


def test_walk_stops_after_iend_and_checks_crcs():
    data = png_of(IHDR, (b"tEXt", b"k\0v"), (b"IEND", b"")) + b"ignored after IEND"
    got = list(pngchunks.chunks(data))
    assert [c.type for c in got] == [b"IHDR", b"tEXt", b"IEND"]
    assert all(c.complete and pngchunks.crc_ok(data, c) for c in got)
    assert data[got[1].body_start : got[1].body_end] == b"k\0v"
    broken = bytearray(data)
    broken[got[1].body_start] ^= 1
    assert not pngchunks.crc_ok(bytes(broken), got[1])


def test_a_chunk_the_file_ends_inside_is_the_last_and_incomplete():
    data = png_of(IHDR, (b"tEXt", b"k\0value"))[:-3]
    got = list(pngchunks.chunks(data))
    assert [c.complete for c in got] == [True, False]


def test_chunk_count_is_bounded(monkeypatch):
    monkeypatch.setattr(limits, "MAX_PNG_CHUNKS", 3)
    data = png_of(*[(b"tEXt", b"")] * 4)
    with pytest.raises(LimitExceeded):
        list(pngchunks.chunks(data))


def test_embedding_into_a_png_cut_inside_a_chunk_header_is_refused():
    # 8 bytes of a chunk header and no CRC: the old writer loop (12-byte steps) dropped
    # them silently; the shared walk reports the truncation.
    data = png_of(IHDR, (b"IDAT", b"xx"))[:-4]
    with pytest.raises(FormatError):
        embed_text(data, "a cat\nSteps: 2")
    assert b"a cat" in embed_text(png_of(IHDR, (b"IEND", b"")), "a cat\nSteps: 2")
