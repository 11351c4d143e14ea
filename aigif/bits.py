"""Bit-level and byte-level integer codes (spec §4).

The SYNTAX segment is a bit string, most significant bit first, so small fields cost
bits, not bytes.  Framing (segment lengths, extension codes) uses LEB128 bytes.
"""

from __future__ import annotations

from .errors import MalformedField, MalformedSegment, Truncated


class BitWriter:
    __slots__ = ("_acc", "_n", "_out")

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0  # pending bits, right-aligned
        self._n = 0  # number of pending bits (< 8 after each call)

    def u(self, value: int, nbits: int) -> None:
        """Fixed-width unsigned integer, MSB first."""
        if nbits == 0:
            return
        if value < 0 or value >> nbits:
            raise ValueError(f"{value} does not fit in {nbits} bits")
        self._acc = (self._acc << nbits) | value
        self._n += nbits
        while self._n >= 8:
            self._n -= 8
            self._out.append((self._acc >> self._n) & 0xFF)
        self._acc &= (1 << self._n) - 1

    def flag(self, value: bool) -> None:
        self.u(1 if value else 0, 1)

    def ue(self, value: int, k: int = 0) -> None:
        """Exp-Golomb code of order k (spec §4.1): ue_k."""
        if value < 0:
            raise ValueError("ue() takes a non-negative integer")
        v = (value >> k) + 1
        nbits = v.bit_length()
        self.u(0, nbits - 1)
        self.u(v, nbits)
        self.u(value & ((1 << k) - 1), k)

    def se(self, value: int, k: int = 0) -> None:
        """Signed exp-Golomb (spec §4.1): 0, 1, -1, 2, -2, ... mapped to 0, 1, 2, 3, 4."""
        self.ue(2 * value - 1 if value > 0 else -2 * value, k)

    def raw(self, data: bytes) -> None:
        if self._n == 0:
            self._out += data
        else:
            for b in data:
                self.u(b, 8)

    def align(self) -> None:
        """Pad with zero bits to the next byte boundary."""
        if self._n:
            self.u(0, 8 - self._n)

    @property
    def bit_length(self) -> int:
        return len(self._out) * 8 + self._n

    def getvalue(self) -> bytes:
        self.align()
        return bytes(self._out)


class BitReader:
    __slots__ = ("_data", "_pos", "_end")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0  # bit position
        self._end = len(data) * 8

    def u(self, nbits: int) -> int:
        if nbits == 0:
            return 0
        if self._pos + nbits > self._end:
            raise MalformedField("field runs past the end of its segment")
        value = 0
        pos = self._pos
        remaining = nbits
        data = self._data
        while remaining:
            byte = data[pos >> 3]
            offset = pos & 7
            take = min(8 - offset, remaining)
            chunk = (byte >> (8 - offset - take)) & ((1 << take) - 1)
            value = (value << take) | chunk
            pos += take
            remaining -= take
        self._pos = pos
        return value

    def flag(self) -> bool:
        return bool(self.u(1))

    def ue(self, k: int = 0, max_bits: int = 64) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > max_bits:
                raise MalformedField("exp-Golomb prefix too long")
        value = ((1 << zeros) | self.u(zeros)) - 1
        return (value << k) | self.u(k)

    def se(self, k: int = 0, max_bits: int = 64) -> int:
        v = self.ue(k, max_bits)
        return (v + 1) // 2 if v & 1 else -(v // 2)

    def raw(self, nbytes: int) -> bytes:
        if self._pos + 8 * nbytes > self._end:
            raise MalformedField("field runs past the end of its segment")
        if self._pos & 7 == 0:
            start = self._pos >> 3
            self._pos += 8 * nbytes
            return bytes(self._data[start : start + nbytes])
        return bytes(self.u(8) for _ in range(nbytes))

    def align(self) -> None:
        """Skip to the byte boundary; the skipped bits must be zero (spec §5.1)."""
        pad = (-self._pos) & 7
        if pad and self.u(pad):
            raise MalformedField("non-zero padding bits")

    def rest(self) -> bytes:
        """The remaining whole bytes (caller aligns first)."""
        start = self._pos >> 3
        self._pos = self._end
        return bytes(self._data[start:])

    @property
    def remaining_bits(self) -> int:
        return self._end - self._pos


def ue_bits(value: int, k: int = 0) -> int:
    """Length in bits of ue_k(value), for the encoder's cost comparisons."""
    return 2 * ((value >> k) + 1).bit_length() - 1 + k


# -- LEB128 (spec §4.2) ---------------------------------------------------------------
def leb128(value: int) -> bytes:
    if value < 0:
        raise ValueError("LEB128 takes a non-negative integer")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_leb128(data: bytes, pos: int, max_bytes: int = 9, what: str = "length") -> tuple[int, int]:
    """Read one minimal LEB128 integer at data[pos]; return (value, new_pos).

    Non-minimal encodings (a final 0x00 continuation byte) are malformed, so every
    integer has exactly one encoding and rewriting a file reproduces it byte for byte.
    """
    value = 0
    shift = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise Truncated(f"file ends inside a {what}")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i and byte == 0:
                raise MalformedSegment(f"non-minimal LEB128 {what}")
            return value, pos + i + 1
    raise MalformedSegment(f"LEB128 {what} longer than {max_bytes} bytes")
