"""Codec 17's run coder for label masks (spec/codecs.md §6.4): rows as runs, each run end
predicted from the row above, range-coded with adaptive integer counts.

Region masks are mostly rows equal to the row above, and where a row differs its run
ends sit near the row above's (a boundary moves a little from row to row), as in the
two-dimensional mode of fax coding.  Per row: one flag "same as the row above"; else its
runs left to right, each as its label (a flag "the label above", else the label) and its
end, coded as the offset -D..D from the first label change of the row above past the
run's start, or an escape and the run length in an Elias-gamma form.  Measured on the
built-in 4-group masks of Kodak 1-12: bench/RESULTS-groupmask.md.

Every model is integer counts (start 1, +INC per symbol, halved when the sum passes
LIMIT), given to constriction's range coder as exact binary64 frequencies; the decoder's
work is bounded by the number of runs, which decoders refuse past max_runs(W, H).
numpy + constriction; no torch.
"""

from __future__ import annotations

import numpy as np

from aigif._extras import require
from aigif.errors import CodecError

D = 8  # run ends within D of the row above's change are "vertical" modes
N_MODE = 2 * D + 2  # offsets -D..D, then the escape
ESCAPE = N_MODE - 1
N_CLASS = 16  # escape: floor(log2(run length)) 0..15 (runs are at most 65535)
INC = 24
LIMIT = 1 << 16


def max_runs(w: int, h: int) -> int:
    """The most runs a stream may decode (over the rows that are not copies): bounds the
    decoder's per-symbol work to 1/32 of the pixels; masks with more use zlib (method 0)."""
    return (w * h) // 32 + w + h


class _Counts:
    """Adaptive integer frequencies of one context, as the spec defines them."""

    def __init__(self, n: int):
        self.c = np.ones(n, np.int64)

    def probs(self) -> np.ndarray:
        return self.c[None].astype(np.float64)

    def update(self, k: int) -> None:
        self.c[k] += INC
        if self.c.sum() > LIMIT:
            self.c = (self.c + 1) >> 1


class _Models:
    def __init__(self, g: int):
        self.row = [_Counts(2) for _ in range(8)]  # context: the last three rows' flags
        self.label_flag = [_Counts(2) for _ in range(2)]  # context: run at x = 0, or later
        self.label = _Counts(g)
        self.mode = [_Counts(N_MODE) for _ in range(N_MODE)]  # context: the previous mode
        self.cls = _Counts(N_CLASS)
        self.bit = np.ones((1, 2), np.float64)  # the escape's low bits: uniform


def _changes(ref: np.ndarray) -> np.ndarray:
    """Positions x where ref[x] != ref[x-1], then W."""
    return np.append(np.flatnonzero(ref[1:] != ref[:-1]) + 1, len(ref))


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(label, end) of each run of a row."""
    ends = _changes(row)
    starts = np.concatenate([[0], ends[:-1]])
    return [(int(row[s]), int(e)) for s, e in zip(starts, ends)]


def count_runs(index: np.ndarray) -> int:
    """Runs the coder would code (rows equal to the row above code none)."""
    total, ref = 0, np.zeros(index.shape[1], index.dtype)
    for row in index:
        if not np.array_equal(row, ref):
            total += len(_changes(row))
        ref = row
    return total


def encode(index: np.ndarray, g: int) -> bytes:
    """(H, W) group indices 0..g-1 -> the stream (a whole number of 32-bit words)."""
    require("codecs", "constriction")
    import constriction  # lazy: the codecs extra; this module is reached only by codec 17

    h, w = index.shape
    enc = constriction.stream.queue.RangeEncoder()
    fam = constriction.stream.model.Categorical(perfect=False)
    m = _Models(g)

    def put(model: _Counts, k: int) -> None:
        enc.encode(np.array([k], np.int32), fam, model.probs())
        model.update(k)

    ref = np.zeros(w, index.dtype)
    hist, last_mode = 0, D
    for row in index:
        same = bool(np.array_equal(row, ref))
        put(m.row[hist], int(same))
        hist = ((hist << 1) | int(same)) & 7
        if same:
            continue
        ref_changes = _changes(ref)
        x, prev = 0, -1
        for label, end in _runs(row):
            if g > 1:
                pred = int(ref[x])
                if x == 0 or pred != prev:
                    put(m.label_flag[int(x > 0)], int(label == pred))
                    if label != pred:
                        put(m.label, label)
                else:
                    put(m.label, label)
            b1 = int(ref_changes[np.searchsorted(ref_changes, x, side="right")])
            d = end - b1
            mode = d + D if -D <= d <= D else ESCAPE
            put(m.mode[last_mode], mode)
            last_mode = mode
            if mode == ESCAPE:
                v = end - x  # 1..W
                k = v.bit_length() - 1
                put(m.cls, k)
                for i in reversed(range(k)):
                    enc.encode(np.array([(v >> i) & 1], np.int32), fam, m.bit)
            x, prev = end, label
        ref = row
    return enc.get_compressed().astype("<u4").tobytes()


def decode(data: bytes, w: int, h: int, g: int) -> np.ndarray:
    """The stream -> (H, W) uint8 group indices; CodecError on anything malformed."""
    require("codecs", "constriction")
    import constriction  # lazy: the codecs extra; this module is reached only by codec 17

    if len(data) % 4 or not data:
        raise CodecError("groupmask run-coded mask is not a whole, non-empty number of 32-bit words")
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))
    fam = constriction.stream.model.Categorical(perfect=False)
    m = _Models(g)

    def get(model: _Counts) -> int:
        try:
            k = int(dec.decode(fam, model.probs())[0])
        except Exception as e:  # constriction reports exhausted or corrupt data as ValueError/AssertionError
            raise CodecError(f"groupmask mask range decoder failed: {e}") from None
        model.update(k)
        return k

    def bit() -> int:
        try:
            return int(dec.decode(fam, m.bit)[0])
        except Exception as e:
            raise CodecError(f"groupmask mask range decoder failed: {e}") from None

    out = np.zeros((h, w), np.uint8)
    ref = np.zeros(w, np.uint8)
    hist, last_mode, budget = 0, D, max_runs(w, h)
    for y in range(h):
        same = get(m.row[hist])
        hist = ((hist << 1) | same) & 7
        row = out[y]
        if same:
            row[:] = ref
            continue
        ref_changes = _changes(ref)
        x, prev = 0, -1
        while x < w:
            budget -= 1
            if budget < 0:
                raise CodecError(f"groupmask mask decodes more than {max_runs(w, h)} runs")
            label = 0
            if g > 1:
                pred = int(ref[x])
                if x == 0 or pred != prev:
                    label = pred if get(m.label_flag[int(x > 0)]) else get(m.label)
                else:
                    label = get(m.label)
            mode = get(m.mode[last_mode])
            last_mode = mode
            if mode == ESCAPE:
                k = get(m.cls)
                v = 1
                for _ in range(k):
                    v = (v << 1) | bit()
                end = x + v
            else:
                end = int(ref_changes[np.searchsorted(ref_changes, x, side="right")]) + mode - D
            if not x < end <= w:
                raise CodecError(f"groupmask mask: a run of row {y} ends at {end}, outside {x + 1}..{w}")
            row[x:end] = label
            x, prev = end, label
        ref = row
    return out
