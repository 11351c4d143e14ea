"""What would orders above 4 buy the static piece model? An estimate in ideal code lengths.

Model v1 (text codec 3) is a PPM chain over pieces of orders 4..1 then 0, with the
training rules of tools/train_prompt_coder.py (raw counts at the top order, Kneser-Ney
continuation counts below it, entries seen once pruned, escape = singletons + pruned
mass, exclusion from orders N..2).  This script rebuilds that chain with the same rules
and the same vocabulary for top orders N = 4, 5, 6, 8 and measures the held-out sets'
ideal code length (-log2 of each coded probability; spelled bytes of out-of-vocabulary
pieces under the shipped byte model, the same for every N).  Only the contexts that the
held-out texts meet are counted, so the run needs no full table of orders 5..8.

    python bench/prompt_high_order.py [--orders 4,5,6,8] [--limit 2000]

It prints, per held-out set, bits per character for each N and the number of distinct
kept contexts of orders 5..N that the held-out texts met (a lower bound of what a
shipped table would hold is reported separately with --table-size).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from aigif.text.promptcoder.model import BOS, EOS, OOV, get_model  # noqa: E402
from aigif.text.promptcoder.tokenize import pieces  # noqa: E402
from train_prompt_coder import load_corpora, modern_split, shared_data_dir, split  # noqa: E402

KEEP_MIN = 2


def to_ids(text: str, ids: dict[str, int]) -> list[int]:
    return [ids.get(p, OOV) for p in pieces(text)] + [EOS]


def needed_contexts(seqs: list[list[int]], top: int) -> list[set]:
    need = [set() for _ in range(top + 1)]
    for seq in seqs:
        hist = (BOS,) * top
        for t in seq:
            for k in range(1, top + 1):
                need[k].add(hist[top - k:])
            hist = hist[1:] + (t,)
    return need


def count(train: list[list[int]], need: list[set], top: int):
    """raw[k][ctx] = Counter of followers (every k); left[k][ctx] = set of (u, t) for k < top."""
    raw = [defaultdict(Counter) for _ in range(top + 1)]
    left = [defaultdict(set) for _ in range(top + 1)]
    for seq in train:
        hist = (BOS,) * (top + 1)
        for t in seq:
            for k in range(1, top + 1):
                c = hist[top + 1 - k:]
                if c in need[k]:
                    raw[k][c][t] += 1
                    left[k][c].add((hist[top - k], t))
            hist = hist[1:] + (t,)
    return raw, left


def table(followers: Counter, keep_min: int = KEEP_MIN):
    """(kept {sym: n}, escape, kept mass) by the training rules."""
    kept = {s: n for s, n in followers.items() if n >= keep_min}
    if not kept:
        return None
    singletons = sum(1 for n in followers.values() if n == 1)
    pruned = sum(n for n in followers.values() if n < keep_min)
    return kept, max(1, singletons + pruned), sum(kept.values())


def tables_for(top_n: int, raw, left, keep_top: int = KEEP_MIN, keep_mid: int = KEEP_MIN):
    out = {}
    for k in range(1, top_n + 1):
        rows = {}
        if k == top_n:
            src = raw[k]
        else:
            src = {}
            for c, pairs in left[k].items():
                cnt = Counter(t for _, t in pairs)
                src[c] = cnt
        for c, f in src.items():
            tb = table(f, KEEP_MIN if k <= 4 else keep_top if k == top_n else keep_mid)
            if tb is not None:
                rows[c] = tb
        out[k] = rows
    return out


class ShippedOrders(dict):
    """Orders 1..4 exactly as model v1 ships them (quantised, its own escapes)."""

    def __init__(self, model, k):
        super().__init__()
        self.model, self.k = model, k

    def get(self, ctx):
        key = 0
        for t in ctx:
            key = key * self.model.n_vocab + t
        c = self.model.context(self.k, key)
        if c is None:
            return None
        kept = {s: c.cum[i + 1] - c.cum[i] for i, s in enumerate(c.syms)}
        return kept, c.esc, c.cum[-1]


def code_length(seq_ids: list[int], seq_pieces: list[str], tabs, top_n: int, model) -> float:
    bits = 0.0
    order0 = model.order0.cum
    total0 = order0[-1]
    hist = (BOS,) * top_n
    oov_pieces = iter([p for p, i in zip(seq_pieces, seq_ids) if i == OOV])
    for t in seq_ids:
        excluded: set = set()
        done = False
        for k in range(top_n, 0, -1):
            tb = tabs[k].get(hist[top_n - k:])
            if tb is None:
                continue
            kept, esc, total = tb
            mass = total - sum(kept.get(s, 0) for s in excluded) if excluded else total
            if mass == 0:
                continue
            if t in kept and t not in excluded:
                bits -= math.log2(kept[t] / (mass + esc))
                done = True
                break
            bits -= math.log2(esc / (mass + esc))
            if k > 1:
                excluded.update(kept)
        if not done:
            bits -= math.log2((order0[t + 1] - order0[t]) / total0)
        if t == OOV:
            bits += spell_bits(next(oov_pieces).encode("utf-8", "surrogatepass"), model)
        hist = hist[1:] + (t,)
    return bits


def spell_bits(piece: bytes, model) -> float:
    bits = 0.0
    prev = 256
    for b in [*piece, 256]:
        cum = model.bytes_ctx[prev].cum
        bits -= math.log2((cum[b + 1] - cum[b]) / cum[-1])
        prev = b
    return bits


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", default="4,5,6,8")
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--keep-top", type=int, default=KEEP_MIN, help="least count of an entry at the top order (above 4)")
    ap.add_argument("--keep-mid", type=int, default=KEEP_MIN, help="least continuation count of an entry at orders 5..N-1")
    ap.add_argument("--sweep", default="", help="more variants over v1's orders 1..4: N:keep_top:keep_mid,...")
    ap.add_argument("--shipped-low", action="store_true", help="also: orders 5..N over model v1's own orders 1..4")
    args = ap.parse_args(argv)
    orders = [int(x) for x in args.orders.split(",")]
    top = max(orders + [int(v.split(":")[0]) for v in args.sweep.split(",") if v])
    t0 = time.process_time()
    model = get_model()
    ids = model.piece_ids
    data = shared_data_dir()
    train, held = split(load_corpora(data))
    _, modern = modern_split(data)
    sets = {
        "civitai": held["civitai"][: args.limit],
        "negative": held["negative"][: args.limit],
        "discord": held["discord"][: args.limit],
        "lexica": modern["lexica-2024"],
        "midjourney": modern["midjourney-v7"],
        "curated": modern["curated-2025"],
    }
    held_ids = {name: [to_ids(p, ids) for p in ps] for name, ps in sets.items()}
    need = needed_contexts([s for v in held_ids.values() for s in v], top)
    train_ids = [to_ids(p, ids) for name in ("discord", "civitai", "negative") for p in train[name]]
    print(f"{len(train_ids)} training prompts, {sum(map(len, train_ids))} symbols; "
          f"contexts needed per order {[len(n) for n in need[1:]]}  ({time.process_time() - t0:.0f} s)", flush=True)
    raw, left = count(train_ids, need, top)
    print(f"counted ({time.process_time() - t0:.0f} s)", flush=True)
    results = {}
    done = []
    variants = [(n, False) for n in orders] + ([(n, True) for n in orders if n > 4] if args.shipped_low else [])
    for spec in args.sweep.split(",") if args.sweep else []:
        variants.append(tuple(int(x) for x in spec.split(":")) + (True,))
    for variant in variants:
        n, shipped = variant[0], variant[-1]
        keep_top, keep_mid = variant[1:3] if len(variant) == 4 else (args.keep_top, args.keep_mid)
        variant = (n, keep_top, keep_mid, shipped)
        tabs = tables_for(n, raw, left, keep_top, keep_mid)
        done.append(variant)
        if shipped:
            for k in range(1, 5):
                tabs[k] = ShippedOrders(model, k)
        for name, ps in sets.items():
            bits = sum(code_length(s, pieces(p) + [""], tabs, n, model) for s, p in zip(held_ids[name], ps))
            chars = sum(len(p) for p in ps)
            results[(name, variant)] = bits / chars
        hi = sum(len(tabs[k]) for k in range(5, n + 1))
        print(f"N={n} keep {keep_top}/{keep_mid}{' over v1' if shipped else ''}: " + "  ".join(f"{name} {results[(name, variant)]:.3f}" for name in sets)
              + f"  (kept contexts of orders 5..N met: {hi})  ({time.process_time() - t0:.0f} s)", flush=True)
    names = [f"N = {n}" + (f", keep {t}/{m}" if n > 4 else "") + (" over v1's 1..4" if sh else "") for n, t, m, sh in done]
    print("\n| held-out set | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(done))
    for name in sets:
        base = results[(name, done[0])]
        cells = [f"{results[(name, v)]:.3f}" + ("" if v == done[0] else f" ({100 * (results[(name, v)] / base - 1):+.1f} %)")
                 for v in done]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
