"""Where not to look next: would a match model help text codec 5 on the newer prompt styles?

An estimate in ideal code lengths on the held-out halves of prompts/modern/: each piece's
cost under codec 5 (the -log2 of every decision its encoder codes, read by swapping in a
counting coder), against the same text with a match model in front: where the last L
pieces occurred earlier in the text, the piece that followed the latest such occurrence is
predicted, one binary decision (KT counts per text) codes a hit, and a miss pays that
decision plus codec 5's cost.  Informative only (it patches codec 5's coder and state to
count, in this process).

    python bench/prompt_match_model.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO))

import train_prompt_coder as trainer  # noqa: E402

import aigif.text.promptcoder.codec5 as codec5  # noqa: E402


class CountingEncoder:
    """The range encoder's interface, summing ideal code lengths instead of writing bytes."""

    latest: "CountingEncoder | None" = None

    def __init__(self) -> None:
        self.bits = 0.0
        CountingEncoder.latest = self

    def encode(self, start: int, freq: int, total: int) -> None:
        self.bits -= math.log2(freq / total)

    def finish(self) -> bytes:
        return b""


_marks: list[float] = []
_state_context = codec5._State.context


def _marking_context(self, key):
    # codec 5's encoder asks for the adaptive context once per piece, before coding it
    _marks.append(CountingEncoder.latest.bits)
    return _state_context(self, key)


def piece_costs(text: str) -> list[float]:
    """Codec 5's bits for each piece of the text, then for EOS."""
    _marks.clear()
    codec5.encode(text)
    marks = _marks + [CountingEncoder.latest.bits]
    return [marks[i + 1] - marks[i] for i in range(len(marks) - 1)]


def with_match_model(pieces: list, costs: list[float], order: int) -> tuple[float, int, int]:
    """(bits, candidates, hits) with the match model of this order in front of codec 5."""
    hit, miss = 0.5, 0.5
    bits, candidates, hits = 0.0, 0, 0
    for i, (piece, cost) in enumerate(zip(pieces, costs)):
        predicted = None
        if i >= order:
            context = pieces[i - order:i]
            for j in range(i - 1, order - 1, -1):
                if pieces[j - order:j] == context:
                    predicted = pieces[j]
                    break
        if predicted is None:
            bits += cost
            continue
        candidates += 1
        if predicted == piece:
            hits += 1
            bits -= math.log2(hit / (hit + miss))
            hit += 1
        else:
            bits += cost - math.log2(miss / (hit + miss))
            miss += 1
    return bits, candidates, hits


def main() -> int:
    codec5.RangeEncoder = CountingEncoder
    codec5._State.context = _marking_context
    _, held = trainer.modern_split()
    print("| held-out set | codec 5 | match order 2 | match order 3 | match order 4 |")
    print("|---|---:|---:|---:|---:|")
    for name in ("lexica-2024", "midjourney-v7", "curated-2025"):
        texts = held[name]
        chars = sum(map(len, texts))
        split = [(codec5._PIECE.findall(t) + [None], piece_costs(t)) for t in texts]
        base = sum(sum(costs) for _, costs in split)
        cells = []
        for order in (2, 3, 4):
            res = [with_match_model(p, c, order) for p, c in split]
            bits = sum(r[0] for r in res)
            cells.append(f"{bits / chars:.3f} ({100 * (bits / base - 1):+.1f} %; {sum(r[2] for r in res)} of "
                         f"{sum(r[1] for r in res)} predictions right)")
        print(f"| {name} | {base / chars:.3f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
