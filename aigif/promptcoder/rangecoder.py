"""A byte-oriented multi-symbol range coder in pure Python integers (spec/prompt-coder.md §5).

Every probability is an integer frequency out of an integer total, so encoder and
decoder take bit-identical decisions on every machine.  The coder is the classic
carry-propagating range coder (64-bit low, 64-bit range, renormalise bytewise when the
range drops below 2**56).  Two details make short payloads short:

* the state is 64 bits wide (Python integers cost the same up to 2**64), so tables with
  totals up to 2**24 lose at most 2**-32 of the range to truncation per symbol;
* the encoder writes carries straight into its output (the code value is always < 1,
  so a carry never runs off the front), so no LZMA-style leading cache byte is needed;
* at the end it writes the fewest bytes that pin the code value inside the final
  interval and drops trailing zero bytes, because the decoder reads zeros past the end.
"""

from __future__ import annotations

STATE_BITS = 64
TOP = 1 << (STATE_BITS - 8)
MASK = (1 << STATE_BITS) - 1
SHIFT = STATE_BITS - 8
STATE_BYTES = STATE_BITS // 8
MAX_TOTAL = 1 << 24  # no model table may have a larger total


class RangeEncoder:
    __slots__ = ("low", "range", "out")

    def __init__(self) -> None:
        self.low = 0
        self.range = MASK
        self.out = bytearray()

    def encode(self, start: int, freq: int, total: int) -> None:
        r = self.range // total
        low = self.low + start * r
        rng = freq * r
        if low > MASK:
            self._carry()
            low &= MASK
        while rng < TOP:
            self.out.append(low >> SHIFT)
            low = (low << 8) & MASK
            rng <<= 8
        self.low = low
        self.range = rng

    def _carry(self) -> None:
        out = self.out
        i = len(out) - 1
        while out[i] == 0xFF:
            out[i] = 0
            i -= 1
        out[i] += 1

    def finish(self) -> bytes:
        low, rng = self.low, self.range
        for nbytes in range(STATE_BYTES + 1):
            unit = 1 << (STATE_BITS - 8 * nbytes)
            value = -(-low // unit) * unit  # smallest multiple of unit >= low
            if value < low + rng:
                break
        if value > MASK:
            self._carry()
            value &= MASK
        for i in range(nbytes):
            self.out.append((value >> (SHIFT - 8 * i)) & 0xFF)
        out = bytes(self.out)
        return out.rstrip(b"\x00")


class RangeDecoder:
    """Reads zeros past the end of `data`; the caller bounds the number of symbols."""

    __slots__ = ("data", "pos", "code", "range")

    def __init__(self, data: bytes) -> None:
        self.data = data
        head = data[:STATE_BYTES].ljust(STATE_BYTES, b"\x00")
        self.code = int.from_bytes(head, "big")
        self.pos = STATE_BYTES
        self.range = MASK

    def target(self, total: int) -> int:
        """The frequency slot in [0, total) the next symbol covers; raises ValueError if corrupt."""
        self.range //= total
        v = self.code // self.range
        if v >= total:
            raise ValueError("range decoder: code value outside the interval")
        return v

    def consume(self, start: int, freq: int) -> None:
        """Advance past the symbol [start, start+freq) found for the last target()."""
        r = self.range
        code = self.code - start * r
        rng = freq * r
        if rng < TOP:
            data, pos = self.data, self.pos
            n = len(data)
            while rng < TOP:
                code = (code << 8) | (data[pos] if pos < n else 0)
                pos += 1
                rng <<= 8
            self.pos = pos
        self.code = code
        self.range = rng
