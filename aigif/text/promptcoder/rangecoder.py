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
  interval and drops their trailing zero bytes, because the decoder reads zeros past the
  end -- but never a byte emitted before the flush, so its decoder reads at most 8 bytes
  past the end (a decoder accepts up to `MAX_IMPLICIT_ZEROS`, spec/prompt-coder.md §5).

The decoder's work is bounded by its input (spec/prompt-coder.md §5): it refuses to read
more than `MAX_IMPLICIT_ZEROS` bytes past the payload and to take more than
`max_decisions(n)` decisions (target() calls) for an n-byte payload.  Otherwise an empty
payload reads as endless zeros and decodes to likely symbols until a size limit.
"""

from __future__ import annotations

STATE_BITS = 64
TOP = 1 << (STATE_BITS - 8)
MASK = (1 << STATE_BITS) - 1
SHIFT = STATE_BITS - 8
STATE_BYTES = STATE_BITS // 8
MAX_TOTAL = 1 << 24  # no model table may have a larger total
# Bytes a decoder may read past the end of a payload.  This encoder needs at most 8; the
# earlier one (format 1.0 revision 1) dropped every trailing zero and needed 9 on 9 of
# ~15,000 sampled texts, more with probability ~1/256 per byte: 16 keeps its files readable.
MAX_IMPLICIT_ZEROS = 16
DECISIONS_PER_BYTE = 64  # see max_decisions()


class PayloadBoundExceeded(ValueError):
    """The decoder ran past the work its input allows (spec/prompt-coder.md §5)."""


def max_decisions(n: int) -> int:
    """Most decisions (symbols coded, escapes included) an n-byte payload may hold.

    Measured on ~15,000 texts of the shared corpora (dev records, Discord, Civitai,
    negative, modern prompts), the densest payload takes 15.7 decisions per (n + 8)
    bytes (repetitive texts such as "black darkness black darkness ...": 169 pieces in 5
    bytes): the bound leaves a factor of 4.  Encoders fall back to another text codec
    for texts that are denser.
    """
    return DECISIONS_PER_BYTE * (n + STATE_BYTES)


class RangeEncoder:
    __slots__ = ("low", "range", "out", "decisions")

    def __init__(self) -> None:
        self.low = 0
        self.range = MASK
        self.out = bytearray()
        self.decisions = 0

    def encode(self, start: int, freq: int, total: int) -> None:
        self.decisions += 1
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
        """The payload; PayloadBoundExceeded when a decoder would refuse it (too dense)."""
        emitted = len(self.out)
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
        # The decoder has read 8 + `emitted` bytes when it reaches the last symbol: keeping
        # every emitted byte (trailing zeros too) means it never reads more than 8 implicit
        # zeros, whatever the text.  Only the flush bytes' trailing zeros go.
        out = bytes(self.out)
        keep = len(out.rstrip(b"\x00"))
        out = out[: max(keep, emitted)]
        if self.decisions > max_decisions(len(out)):
            raise PayloadBoundExceeded(f"{self.decisions} decisions in {len(out)} bytes: denser than the codec allows")
        return out


class RangeDecoder:
    """Reads up to MAX_IMPLICIT_ZEROS zeros past the end of `data`, and takes at most
    max_decisions(len(data)) decisions; beyond either, PayloadBoundExceeded."""

    __slots__ = ("data", "pos", "code", "range", "decisions_left", "end")

    def __init__(self, data: bytes) -> None:
        self.data = data
        head = data[:STATE_BYTES].ljust(STATE_BYTES, b"\x00")
        self.code = int.from_bytes(head, "big")
        self.pos = STATE_BYTES
        self.range = MASK
        self.decisions_left = max_decisions(len(data))
        self.end = len(data) + MAX_IMPLICIT_ZEROS  # no byte at or past this position is read

    def target(self, total: int) -> int:
        """The frequency slot in [0, total) the next symbol covers; raises ValueError if corrupt."""
        self.decisions_left -= 1
        if self.decisions_left < 0:
            raise PayloadBoundExceeded("payload holds more decisions than its length allows")
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
                if pos >= self.end:
                    raise PayloadBoundExceeded(f"reads more than {MAX_IMPLICIT_ZEROS} bytes past the end of the payload")
                code = (code << 8) | (data[pos] if pos < n else 0)
                pos += 1
                rng <<= 8
            self.pos = pos
        self.code = code
        self.range = rng
