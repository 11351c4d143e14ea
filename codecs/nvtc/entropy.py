"""NVTC's entropy model (bitstream versions 2 and 3): the static tables adapted to the image.

Measured on Kodak-24 (BENCHMARKS.md, NVTC entropy model): the shipped conditional
tables collapse the 16 block positions into 32-64 parameter levels, while each position
has its own codebook, so the image's own per-position entropy is 32-51 % below what the
static tables spend on stage 0.  Version 2 keeps the static row of each symbol as the
prior and adds integer counts of the symbols already coded in the same layer:

    f(k) = F[row](k) + W1 * n_pos(p, k) + W2 * n_pl(p, row, k)

n_pos counts index k at block position p, n_pl at position p under the same static row.
The counts are updated between chunks of blocks (so each chunk is one vectorised coder
call) whose boundaries are integers: chunk j covers blocks [b_j, b_{j+1}) with b_0 = 0,
b_{j+1} = min(n, b_j + max(1, b_j // 8)).  W1, W2 are chosen by the encoder per layer
and sent in the header as one byte (high nibble a, low nibble b; 0 = off, else
W = 2**(a + 3), a <= 11).  Everything is integer arithmetic: the decoder rebuilds the
same rows bit for bit on any machine (spec/codecs.md §4.3).

A layer may code only some of its symbols (`coded`, a boolean per symbol known to both
sides: codec 17 leaves out the symbols of cells outside a group, spec/codecs.md §6.3).
The model then runs on the coded symbols alone, as if the blocks holding at least one of
them were the whole layer: the counts see only coded symbols, and the chunk rule counts
those blocks.  A symbol that is not coded takes its static row's most probable index
(fill_index).  coded=None (every symbol) is exactly the model above.

numpy only: no torch here.
"""

from __future__ import annotations

import numpy as np

from aigif.errors import CodecError

CHUNK_DIV = 8  # chunks of 1/8 of the blocks coded so far: 2 -> 8 took model 2 from +5.7 to +3.1 % of the own entropy
MAX_NIBBLE = 11  # W <= 2**14: every row sum stays below 2**53, exact in binary64
# the encoder's search grid for (W1, W2) nibbles: 0 = off, 7/9/11 = 2**10, 2**12, 2**14
SEARCH = (0, 7, 9, 11)


def weight(nibble: int) -> int:
    return 0 if nibble == 0 else 1 << (nibble + 3)


def unpack_mix(byte: int) -> tuple[int, int]:
    a, b = byte >> 4, byte & 15
    if a > MAX_NIBBLE or b > MAX_NIBBLE:
        raise CodecError(f"nvtc adaptation byte {byte:#04x} has a weight over 2**{MAX_NIBBLE + 3}")
    return weight(a), weight(b)


def chunks(n_blocks: int) -> list[tuple[int, int]]:
    """Block ranges coded with the same counts; each chunk 1/CHUNK_DIV of the blocks coded so far."""
    out, b = [], 0
    while b < n_blocks:
        e = min(n_blocks, b + max(1, b // CHUNK_DIV))
        out.append((b, e))
        b = e
    return out


class LayerModel:
    """The integer model of one layer: static rows plus the counts of this image's symbols."""

    def __init__(self, freq: np.ndarray, rows: np.ndarray, n_pos: int, w1: int, w2: int,
                 coded: np.ndarray | None = None):
        """rows: static row of each of the layer's N*P symbols (block-major); coded: None
        (all coded) or a bool per symbol.  Symbol ranges, rows_for and update then index the
        coded symbols only, in layer order (self.sel: their places in the layer)."""
        self.freq = freq.astype(np.int64)  # (R, K) static table
        rows = rows.astype(np.int64)
        self.P = n_pos
        self.w1, self.w2 = w1, w2
        K = self.freq.shape[1]
        n_rows = self.freq.shape[0]
        pos = np.tile(np.arange(n_pos, dtype=np.int64), len(rows) // n_pos)
        if coded is None:
            self.sel = None
            self.block_ends = None
        else:
            coded = np.asarray(coded, bool).reshape(-1, n_pos)
            per_block = coded.sum(1)
            self.sel = np.flatnonzero(coded)
            # symbol offset after each block that holds a coded symbol: chunks count those blocks
            self.block_ends = np.cumsum(per_block[per_block > 0])
            rows, pos = rows[self.sel], pos[self.sel]
        self.rows, self.pos = rows, pos  # of the coded symbols
        self.pl = self.pos * n_rows + self.rows
        self.n_pos = np.zeros((n_pos, K), np.int64) if w1 else None
        self.n_pl = np.zeros((n_pos * n_rows, K), np.int64) if w2 else None

    def rows_for(self, a: int, b: int) -> np.ndarray:
        """Frequency rows (int64) of symbols a..b-1 from the counts so far."""
        f = self.freq[self.rows[a:b]]
        if self.n_pos is not None:
            f = f + self.w1 * self.n_pos[self.pos[a:b]]
        if self.n_pl is not None:
            f = f + self.w2 * self.n_pl[self.pl[a:b]]
        return f

    def update(self, a: int, b: int, sym: np.ndarray) -> None:
        if self.n_pos is not None:
            np.add.at(self.n_pos, (self.pos[a:b], sym), 1)
        if self.n_pl is not None:
            np.add.at(self.n_pl, (self.pl[a:b], sym), 1)

    def symbol_ranges(self) -> list[tuple[int, int]]:
        """Coded-symbol ranges [a, b) coded with the same counts."""
        if self.block_ends is None:
            return [(a * self.P, b * self.P) for a, b in chunks(len(self.rows) // self.P)]
        ends = self.block_ends
        return [(0 if a == 0 else int(ends[a - 1]), int(ends[b - 1])) for a, b in chunks(len(ends))]


def fill_index(freq: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The index an uncoded symbol takes: its static row's most probable one, the lower on a tie."""
    return np.argmax(freq, axis=1)[np.asarray(rows, np.int64)]


def code_length(freq: np.ndarray, rows: np.ndarray, n_pos: int, w1: int, w2: int, sym: np.ndarray,
                coded: np.ndarray | None = None) -> float:
    """Ideal code length in bits of sym (the coded symbols) under the adapted model (the encoder's choice)."""
    m = LayerModel(freq, rows, n_pos, w1, w2, coded)
    bits = 0.0
    for a, b in m.symbol_ranges():
        f = m.rows_for(a, b)
        s = sym[a:b]
        bits -= float(np.log2(f[np.arange(b - a), s] / f.sum(1)).sum())
        m.update(a, b, s)
    return bits


def best_mix(freq: np.ndarray, rows: np.ndarray, n_pos: int, sym: np.ndarray,
             coded: np.ndarray | None = None) -> tuple[int, float, float]:
    """(mix byte, its code length, the static code length) over the SEARCH grid."""
    best, static = None, None
    for a in SEARCH:
        for b in SEARCH:
            bits = code_length(freq, rows, n_pos, weight(a), weight(b), sym, coded)
            if a == b == 0:
                static = bits
            if best is None or bits < best[1]:
                best = ((a << 4) | b, bits)
    return best[0], best[1], static
