"""Train the high-order extension of prompt model v1 (orders 5..8, text codec 6).

Usage:  python tools/train_prompt_orders.py [--data ../shared/data] [--out aigif/text/promptcoder/data]

Counted on exactly the training split of model v1 (tools/train_prompt_coder.py: the
Discord, Civitai and negative prompts whose hash is not held out) with v1's vocabulary,
so the extension and v1 see the same symbols.  The rules follow v1's (spec/prompt-coder.md
§8): the top order (8) holds raw counts, orders 5..7 Kneser-Ney continuation counts (the
number of distinct symbols seen before the context and the follower), an entry below
KEEP_TOP / KEEP_MID (2: an entry seen once) is pruned, at most the 255 most frequent entries
of a context are kept, and a context's escape count is max(1, singletons + pruned mass).
A context of order k is counted only where at least k - 1 pieces precede it (one BOS at
most): with more BOS the order-(i+1) context of v1 already says everything.

A context's key is its number in base V (V = v1's vocabulary size, oldest piece first)
mod 2**32 (spec/prompt-coder.md §11.1): a fingerprint, half the size of v1's exact 64-bit
keys, which is what makes orders 5..8 fit the size limit.  Two contexts whose keys
collide share one table, and the trainer keeps the one seen more often; a context that
is not in the table but shares a stored key reads that table.  Either costs bits, never
correctness: both sides look up the same key.

Deterministic: the same data give the same bytes (no hashing of Python objects, every
table sorted).  About 2.5 minutes of CPU and 7 GB on this machine; --sizes prints the
shipped size of other pruning settings without writing anything (BENCHMARKS.md, codec 6).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from array import array
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from train_prompt_coder import BOS, EOS, N_SPECIAL, OOV, load_corpora, quantise, shared_data_dir, split, write_atomic  # noqa: E402

from aigif.text.promptcoder.codec6 import BUCKETS, HIGH_ORDER, LOW_ORDER, ORDERS_FILE as FILE, ORDERS_MAGIC as MAGIC  # noqa: E402
from aigif.text.promptcoder.tokenize import pieces  # noqa: E402

LOW, HIGH = LOW_ORDER, HIGH_ORDER
MASK = (1 << 32) - 1  # orders 5..8 are keyed by the context's number mod 2**32 (§11.1)
MAX_ENTRIES = 255  # entries per context (a u8 count); the rest counts as pruned mass
KEEP_TOP = 2  # an order-8 entry is kept when its raw count reaches this
KEEP_MID = 2  # an entry of orders 5..7 is kept when its continuation count reaches this


def training_sequences(data: Path, vocab_ids: dict[str, int]) -> list[list[int]]:
    train, _ = split(load_corpora(data))
    sentences = [p for name in ("discord", "civitai", "negative") for p in train[name]]
    return [[vocab_ids.get(p, OOV) for p in pieces(s)] + [EOS] for s in sentences]


def count(seqs: list[list[int]], V: int):
    """grams[L]: Counter (L = HIGH + 1: the context of order HIGH and its follower) or set
    (L = LOW + 2 .. HIGH + 1: a context of order L - 2, its follower and the piece before
    it) of exact gram numbers, for the positions where the context has at most one BOS."""
    raw_top: Counter = Counter()
    seen = {L: set() for L in range(LOW + 2, HIGH + 2)}
    for seq in seqs:
        g = [0] * (HIGH + 2)  # g[L]: the last L symbols (BOS-padded) as a base-V number
        for L in range(1, HIGH + 2):
            g[L] = g[L - 1] * V + BOS
        for i, t in enumerate(seq):
            for L in range(HIGH + 1, 0, -1):
                g[L] = g[L - 1] * V + t
            # order k = L - 2 (continuation) needs i >= k - 1; the top order k = HIGH needs i >= HIGH - 1
            if i >= HIGH - 1:
                raw_top[g[HIGH + 1]] += 1
            for L in range(LOW + 2, HIGH + 2):
                if i >= L - 3:
                    seen[L].add(g[L])
    return raw_top, seen


def tables(raw_top: Counter, seen: dict, V: int, keep_top: int = KEEP_TOP, keep_mid: int = KEEP_MID) -> dict[int, list]:
    """Per order: rows (key, syms, freqs, esc) sorted by key, collisions resolved."""
    out = {}
    for k in range(HIGH, LOW - 1, -1):
        followers: dict[int, dict[int, int]] = defaultdict(dict)
        if k == HIGH:
            for gram, n in raw_top.items():
                followers[gram // V][gram % V] = n
        else:
            span = V ** (k + 1)
            cont = Counter(gram % span for gram in seen[k + 2])
            for gram, n in cont.items():
                followers[gram // V][gram % V] = n
        by_key: dict[int, tuple] = {}
        collisions = 0
        keep_min = keep_top if k == HIGH else keep_mid
        for ctx, f in followers.items():
            kept = [(s, n) for s, n in f.items() if n >= keep_min]
            if not kept:
                continue
            singletons = sum(1 for n in f.values() if n == 1)
            pruned = sum(n for n in f.values() if n < keep_min)
            if len(kept) > MAX_ENTRIES:
                kept.sort(key=lambda e: (-e[1], e[0]))
                pruned += sum(n for _, n in kept[MAX_ENTRIES:])
                kept = kept[:MAX_ENTRIES]
            kept.sort()
            esc = max(1, singletons + pruned)
            q = quantise([n for _, n in kept] + [esc])
            key = ctx & MASK
            row = (sum(f.values()), ctx, [s for s, _ in kept], q[:-1], q[-1])
            old = by_key.get(key)
            if old is not None:
                collisions += 1
                if (old[0], -old[1]) >= (row[0], -row[1]):
                    continue
            by_key[key] = row
        out[k] = sorted((key, r[2], r[3], r[4]) for key, r in by_key.items())
        n_ent = sum(len(r[1]) for r in out[k])
        print(f"order {k}: {len(out[k])} contexts, {n_ent} entries, {collisions} key collisions", flush=True)
    return out


def arr(typecode: str, values) -> bytes:
    """Integers as little-endian array bytes."""
    a = array(typecode, values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def planes(values) -> bytes:
    """u16 values as two byte planes, all low bytes then all high bytes (§11.1): the high
    plane of small counts is nearly all zeros, which zstd then all but removes."""
    b = arr("H", values)
    return b[0::2] + b[1::2]


def serialise(tabs: dict[int, list], V: int) -> bytes:
    out = bytearray(MAGIC)
    out += arr("I", [V, LOW, HIGH])
    for k in range(HIGH, LOW - 1, -1):
        rows = tabs[k]
        out += arr("I", [len(rows), sum(len(r[1]) for r in rows)])
        bucket = [0] * BUCKETS
        for key, _, _, _ in rows:
            bucket[key >> 16] += 1
        assert max(bucket) < 1 << 16
        out += planes(bucket)
        out += planes([key & 0xFFFF for key, _, _, _ in rows])
        out += arr("B", [len(syms) for _, syms, _, _ in rows])
        out += planes([esc for _, _, _, esc in rows])
        out += planes([s for _, syms, _, _ in rows for s in syms])
        out += planes([f for _, _, freqs, _ in rows for f in freqs])
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--out", type=Path, default=REPO / "aigif" / "text" / "promptcoder" / "data")
    ap.add_argument("--keep-top", type=int, default=KEEP_TOP)
    ap.add_argument("--keep-mid", type=int, default=KEEP_MID)
    ap.add_argument("--sizes", default="", help="only print the sizes of settings keep_top:keep_mid:highest_order,...")
    args = ap.parse_args(argv)
    import zstandard

    from aigif.text.promptcoder.model import get_model

    t0 = time.process_time()
    model = get_model()
    V = model.n_vocab
    assert all(i >= N_SPECIAL for i in model.piece_ids.values())
    seqs = training_sequences(args.data, model.piece_ids)
    print(f"{len(seqs)} training prompts, {sum(map(len, seqs))} symbols ({time.process_time() - t0:.0f} s)", flush=True)
    raw_top, seen = count(seqs, V)
    del seqs
    print(f"counted ({time.process_time() - t0:.0f} s)", flush=True)
    if args.sizes:  # informative: the shipped size of other pruning settings, nothing written
        for spec in args.sizes.split(","):
            top, mid, high = (int(x) for x in spec.split(":"))
            tabs = tables(raw_top, seen, V, top, mid)
            raw = serialise({k: tabs[k] if k <= high else [] for k in tabs}, V)
            packed = zstandard.ZstdCompressor(level=19).compress(raw)
            print(f"keep {top}/{mid}, orders 5..{high}: {len(raw)} B raw, {len(packed)} B zstd-19", flush=True)
        return 0
    tabs = tables(raw_top, seen, V, args.keep_top, args.keep_mid)
    del raw_top, seen
    raw = serialise(tabs, V)
    packed = zstandard.ZstdCompressor(level=19).compress(raw)
    write_atomic(args.out / FILE, packed)
    print(f"{FILE}: {len(raw)} B raw, {len(packed)} B shipped, sha256 {hashlib.sha256(packed).hexdigest()} "
          f"({time.process_time() - t0:.0f} s of CPU)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
