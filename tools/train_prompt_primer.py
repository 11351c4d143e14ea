#!/usr/bin/env python3
"""Train the primer of text codec 5 (spec/prompt-coder.md §10): the starting state of its
adaptive models, counted on the training half of prompts/modern/.

    nice -n 10 python tools/train_prompt_primer.py [--data DIR] [--out aigif/text/promptcoder/data]

Codec 5's adaptive models learn within each text; the primer is what they know before the
first piece: the pieces outside model v1's vocabulary that newer prompts share (JSON
indentation runs, `stylize`, common CJK characters, ...) and the order-2 contexts of
newer prompt styles (Midjourney parameters, JSON keys, long prose). Deterministic (the same
corpora give a byte-identical file) and ~1 s of CPU once model v1 is loaded. Only
statistics of pieces held by at least PIECE_MIN_PROMPTS prompts and of (pair, follower)
triples held by at least FOLLOWER_MIN_PROMPTS prompts are written, so no prompt's own
sequence can be read back from the file; the prompts themselves are not written. The held-out half of prompts/modern/
(train_prompt_coder.modern_split) is never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import train_prompt_coder as trainer  # noqa: E402

from aigif.text.promptcoder import codec5  # noqa: E402
from aigif.text.promptcoder.model import BOS, EOS, OOV, get_model  # noqa: E402

PRIMER_FILE = "prompt-primer-v1.bin"
PRIMER_MAGIC = b"AIGIFPP\x01"
PIECE_MIN_PROMPTS = 2  # an extra piece is kept when this many training prompts hold it
MAX_EXTRA_PIECES = 1024
FOLLOWER_MIN_PROMPTS = 2  # a primed follower is kept when this many training prompts hold it after its pair
CONTEXT_MAX_TOTAL = 1 << 8  # a primed context's counts are halved (rounding up) until their sum fits
EXTRA_MAX_TOTAL = 1 << 12  # same for the extra pieces' counts


def quantise(counts: list[int], limit: int) -> list[int]:
    while sum(counts) > limit:
        counts = [(c + 1) // 2 for c in counts]
    return counts


def train(prompts: list[str]) -> bytes:
    from array import array

    model = get_model()
    ids = model.piece_ids
    V = model.n_vocab
    seqs = [codec5.pieces(p) for p in prompts]
    in_prompts: Counter = Counter()
    for seq in seqs:
        in_prompts.update({x for x in seq if x not in ids and len(x.encode("utf-8")) <= 255})
    occurrences = Counter(x for seq in seqs for x in seq if x not in ids)
    extra = [x for x, n in in_prompts.items() if n >= PIECE_MIN_PROMPTS]
    extra.sort(key=lambda x: (-occurrences[x], x))
    extra = extra[:MAX_EXTRA_PIECES]
    extra_ids = {x: V + j for j, x in enumerate(extra)}
    extra_counts = quantise([occurrences[x] for x in extra], EXTRA_MAX_TOTAL)
    pairs: dict[tuple[int, int], Counter] = defaultdict(Counter)
    holders: Counter = Counter()  # (pair, follower) -> prompts that hold it
    for seq in seqs:
        prev2 = prev1 = BOS
        triples = set()
        for x in [*seq, None]:
            sym = EOS if x is None else ids.get(x, extra_ids.get(x, -1))
            if prev2 >= 0 and prev1 >= 0 and sym >= 0:
                pairs[(prev2, prev1)][sym] += 1
                triples.add((prev2, prev1, sym))
            prev2, prev1 = prev1, sym
        holders.update(triples)
    rows = []
    for key in sorted(pairs):
        kept = sorted(((s, n) for s, n in pairs[key].items() if holders[(*key, s)] >= FOLLOWER_MIN_PROMPTS and s != OOV),
                      key=lambda sn: (-sn[1], sn[0]))
        kept = kept[: codec5.ADAPTIVE_FOLLOWERS]
        if kept:
            rows.append((key, [s for s, _ in kept], quantise([n for _, n in kept], CONTEXT_MAX_TOTAL)))

    def arr(typecode: str, values) -> bytes:
        a = array(typecode, values)
        if sys.byteorder != "little":
            a.byteswap()
        return a.tobytes()

    encoded = [x.encode("utf-8") for x in extra]
    out = bytearray(PRIMER_MAGIC)
    out += arr("I", [len(extra)])
    out += bytes(len(e) for e in encoded) + b"".join(encoded)
    out += arr("H", extra_counts)
    ends, total = [], 0
    for _, syms, _ in rows:
        total += len(syms)
        ends.append(total)
    out += arr("I", [len(rows), total])
    out += arr("I", [k[0] for k, _, _ in rows])
    out += arr("I", [k[1] for k, _, _ in rows])
    out += arr("I", ends)
    out += arr("I", [s for _, syms, _ in rows for s in syms])
    out += arr("H", [c for _, _, counts in rows for c in counts])
    print(f"primer: {len(extra)} extra pieces, {len(rows)} contexts, {total} followers", flush=True)
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=trainer.shared_data_dir())
    ap.add_argument("--out", type=Path, default=REPO / "aigif" / "text" / "promptcoder" / "data")
    args = ap.parse_args(argv)
    t0 = time.process_time()
    train_sets, held = trainer.modern_split(args.data)
    prompts = [p for name in trainer.MODERN_SETS for p in train_sets[name]]
    print(f"train: {len(prompts)} prompts of prompts/modern/ ({', '.join(f'{k} {len(v)}' for k, v in train_sets.items())}); "
          f"held out, not read: {sum(map(len, held.values()))}", flush=True)
    data = train(prompts)
    args.out.mkdir(parents=True, exist_ok=True)
    trainer.write_atomic(args.out / PRIMER_FILE, data)
    print(f"{PRIMER_FILE}: {len(data)} B, sha256 {hashlib.sha256(data).hexdigest()} ({time.process_time() - t0:.0f} s CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
