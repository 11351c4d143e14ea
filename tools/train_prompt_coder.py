#!/usr/bin/env python3
"""Train the prompt-coder tables (text codecs 2 and 3) from the shared prompt corpora.

    nice -n 10 python tools/train_prompt_coder.py [--data DIR] [--out aigif/text/promptcoder/data]

Deterministic: the same corpora give byte-identical model files (checked: a second run
reproduced both sha256 of spec/prompt-coder.md; ~2.3 min of CPU, 4-8 min on the shared
machine).  The train/held-out
split is a hash split (sha256 of the prompt, 1 in 10 held out) and every prompt of
records/dev.jsonl is excluded from training, since the acceptance benchmark runs on it.
The corpora themselves are never written out: only counts of pieces that survive the
pruning thresholds below, i.e. statistics, end up in the model file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aigif.text.promptcoder.tokenize import pieces  # noqa: E402


def shared_data_dir() -> Path:
    return Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))


def is_held_out(prompt: str) -> bool:
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") % 10 == 0


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        # The corpora write a newline inside a prompt as the two characters \n.
        return [line.rstrip("\n").replace("\\n", "\n") for line in f if line.strip()]


def load_corpora(data: Path) -> dict[str, list[str]]:
    """Distinct prompts per corpus, in file order (dev.jsonl prompts removed)."""
    prompts = data / "prompts"
    dev = {json.loads(line)["prompt"] for line in open(data / "records" / "dev.jsonl", encoding="utf-8")}
    discord = _lines(prompts / "discord-2022.txt")
    for line in open(prompts / "discord-2022-records.jsonl", encoding="utf-8"):
        discord.append(json.loads(line)["prompt"])
    fragments = []
    for path in sorted((prompts / "fragments").rglob("*.txt")):
        fragments.extend(_lines(path))
    corpora = {
        "discord": discord,
        "civitai": _lines(prompts / "civitai-2023.txt"),
        "negative": _lines(prompts / "negative.txt"),
        "fragments": fragments,
    }
    out = {}
    for name, items in corpora.items():
        seen: set[str] = set()
        kept = []
        for p in items:
            if p and p not in seen and p not in dev:
                seen.add(p)
                kept.append(p)
        out[name] = kept
    return out


def split(corpora: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    train, held = {}, {}
    for name, items in corpora.items():
        if name == "fragments":  # word lists, not prompts: train only
            train[name], held[name] = items, []
            continue
        train[name] = [p for p in items if not is_held_out(p)]
        held[name] = [p for p in items if is_held_out(p)]
    return train, held


def training_prompts(data: Path | None = None) -> list[str]:
    """The training split of the prompt corpora, concatenated (used by bench/ for the zstd dictionary)."""
    train, _ = split(load_corpora(data or shared_data_dir()))
    return [p for name in ("discord", "civitai", "negative") for p in train[name]]


def held_out_prompts(data: Path | None = None) -> dict[str, list[str]]:
    _, held = split(load_corpora(data or shared_data_dir()))
    return held


MODERN_SETS = ("lexica-2024", "midjourney-v7", "curated-2025", "dflip3k-mixed")
MODERN_SALT = b"aigif-modern-split-v1:"  # a fixed seed: the split never changes with file order


def is_modern_held_out(prompt: str) -> bool:
    """Half of each prompts/modern/ set is held out here (the other half of the original
    sets is kept by the data's owners and never seen): sha256(salt + prompt), even = held out."""
    digest = hashlib.sha256(MODERN_SALT + prompt.encode("utf-8", "surrogatepass")).digest()
    return digest[0] % 2 == 0


def modern_split(data: Path | None = None) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(train, held out) per prompts/modern/ set: distinct prompts in file order."""
    train, held = {}, {}
    for name in MODERN_SETS:
        path = (data or shared_data_dir()) / "prompts" / "modern" / f"{name}.txt"
        items = list(dict.fromkeys(_lines(path))) if path.exists() else []
        train[name] = [p for p in items if not is_modern_held_out(p)]
        held[name] = [p for p in items if is_modern_held_out(p)]
    return train, held


# ---------------------------------------------------------------------------------
# codec 3: the piece n-gram model (layout: spec/prompt-coder.md §4)

EOS, BOS, OOV = 0, 1, 2
N_SPECIAL = 3
TABLE_MAX_TOTAL = 1 << 16  # n-gram and byte tables: u16 frequencies
ORDER0_MAX_TOTAL = 1 << 24  # the order-0 table: u32 frequencies, the coder's limit
MAX_PIECE_BYTES = 255


class Params:
    max_order = 4  # keys are V**order < 2**64 for V <= 65536, so 4 is the largest
    vocab_min_count = 3  # a piece enters the vocabulary when seen this often in training
    keep_min = {1: 2, 2: 2, 3: 2, 4: 2}  # an n-gram entry is kept when its count reaches this
    # Orders whose tables hold Kneser-Ney continuation counts (distinct left contexts)
    # instead of raw counts: the lower orders are only reached after an escape, so they
    # should predict what is *novel* in the higher context, not what is frequent.
    continuation_orders = (0, 1, 2, 3)
    esc_num, esc_den = 1, 1  # escape count = max(1, esc_num*(singletons + pruned mass)//esc_den)


def quantise(freqs: list[int], limit: int = TABLE_MAX_TOTAL) -> list[int]:
    """Halve (rounding up, so nothing drops to zero) until the total fits the coder."""
    while sum(freqs) > limit:
        freqs = [(f + 1) // 2 for f in freqs]
    return freqs


def build_vocab(seqs: list[list[str]], p: Params) -> list[str]:
    counts = Counter(piece for seq in seqs for piece in seq)
    words = [
        w for w, n in counts.items()
        if n >= p.vocab_min_count and len(w.encode("utf-8", "surrogatepass")) <= MAX_PIECE_BYTES
    ]
    words.sort(key=lambda w: (-counts[w], w))
    vocab = ["", "", ""] + words
    if len(vocab) > 65536:
        raise SystemExit(f"vocabulary of {len(vocab)} pieces does not fit u16 symbol IDs")
    return vocab


def count_ngrams(seqs: list[list[str]], vocab: list[str], p: Params):
    ids = {w: i for i, w in enumerate(vocab) if i >= N_SPECIAL}
    order = p.max_order
    counts = [defaultdict(Counter) for _ in range(order + 1)]
    byte_counts = [[0] * 257 for _ in range(257)]
    for seq in seqs:
        hist = (BOS,) * order
        for piece in seq + [None]:
            if piece is None:
                t = EOS
            else:
                t = ids.get(piece, OOV)
                if t == OOV:
                    prev = 256
                    for b in piece.encode("utf-8", "surrogatepass"):
                        byte_counts[prev][b] += 1
                        prev = b
                    byte_counts[prev][256] += 1
            for k in range(order + 1):
                counts[k][hist[order - k:]][t] += 1
            hist = hist[1:] + (t,)
    return counts, byte_counts


def continuation(counts_above: dict) -> dict:
    cont: dict = defaultdict(Counter)
    for ctx, followers in counts_above.items():
        lower = ctx[1:]
        for t in followers:
            cont[lower][t] += 1
    return cont


def build_tables(counts, byte_counts, n_vocab: int, p: Params):
    order = p.max_order
    tables = {}
    for k in range(order, 0, -1):
        src = continuation(counts[k + 1]) if k in p.continuation_orders else counts[k]
        rows = []
        for ctx, followers in src.items():
            kept = sorted((s, n) for s, n in followers.items() if n >= p.keep_min[k])
            if not kept:
                continue  # the decoder skips absent contexts without coding anything
            singletons = sum(1 for n in followers.values() if n == 1)
            pruned = sum(n for n in followers.values() if n < p.keep_min[k])
            esc = max(1, p.esc_num * (singletons + pruned) // p.esc_den)
            q = quantise([n for _, n in kept] + [esc])
            key = 0
            for t in ctx:
                key = key * n_vocab + t
            rows.append((key, [s for s, _ in kept], q[:-1], q[-1]))
        rows.sort()
        tables[k] = rows
    src0 = continuation(counts[1]) if 0 in p.continuation_orders else counts[0]
    unigram = src0[()]
    # Every vocabulary piece stays codable: +1 on top of the (continuation) count.
    order0 = [0 if i == BOS else unigram.get(i, 0) + 1 for i in range(n_vocab)]
    order0 = quantise(order0, ORDER0_MAX_TOTAL)
    byte_model = []
    for row in byte_counts:
        byte_model.extend(quantise([n + 1 for n in row]))
    return tables, order0, byte_model


MODEL_MAGIC = b"AIGIFPC\x01"


def serialise_model(vocab: list[str], tables, order0, byte_model, p: Params) -> bytes:
    from array import array

    def arr(typecode: str, values) -> bytes:
        a = array(typecode, values)
        if sys.byteorder != "little":
            a.byteswap()
        return a.tobytes()

    encoded = [w.encode("utf-8", "surrogatepass") for w in vocab]
    out = bytearray(MODEL_MAGIC)
    out += arr("I", [len(vocab), p.max_order])
    out += bytes(len(e) for e in encoded)
    out += b"".join(encoded)
    for k in range(p.max_order, 0, -1):
        rows = tables[k]
        ends, total = [], 0
        for _, syms, _, _ in rows:
            total += len(syms)
            ends.append(total)
        out += arr("I", [len(rows), total])
        out += arr("Q", [key for key, _, _, _ in rows])
        out += arr("I", ends)
        out += arr("H", [esc for _, _, _, esc in rows])
        out += arr("H", [s for _, syms, _, _ in rows for s in syms])
        out += arr("H", [f for _, _, freqs, _ in rows for f in freqs])
    out += arr("I", order0)
    out += arr("H", byte_model)
    return bytes(out)


def train_model(seqs: list[list[str]], p: Params) -> bytes:
    vocab = build_vocab(seqs, p)
    counts, byte_counts = count_ngrams(seqs, vocab, p)
    tables, order0, byte_model = build_tables(counts, byte_counts, len(vocab), p)
    return serialise_model(vocab, tables, order0, byte_model, p)


# ---------------------------------------------------------------------------------
# codec 2: zstd dictionary


def train_zstd_dict(prompts: list[str], size: int) -> bytes:
    import zstandard

    # Every 4th prompt, fixed COVER parameters, one thread: deterministic and ~15 s.
    # Leaving k and d open makes zstd search them for tens of minutes on this corpus;
    # k in 64..1024 moved the dev.jsonl mean by ~1 B, and all prompts vs a quarter by 0.
    
    samples = [p.encode("utf-8", "surrogatepass") for p in prompts[::4]]
    return zstandard.train_dictionary(size, samples, k=1024, d=8, level=19, threads=1).as_bytes()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--out", type=Path, default=REPO / "aigif" / "text" / "promptcoder" / "data")
    ap.add_argument("--dict-size", type=int, default=110 * 1024)
    ap.add_argument("--skip-dict", action="store_true")
    ap.add_argument("--skip-model", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    train, held = split(load_corpora(args.data))
    # The fragments are word lists, not prompts: their n-grams would teach the model
    # that prompts end after two words, so they are not used.
    sentences = [p for name in ("discord", "civitai", "negative") for p in train[name]]
    print(f"train: {len(sentences)} prompts + {len(train['fragments'])} fragments; "
          f"held out: {', '.join(f'{k} {len(v)}' for k, v in held.items() if v)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_model:
        import zstandard

        p = Params()
        seqs = [pieces(s) for s in sentences]
        raw = train_model(seqs, p)
        packed = zstandard.ZstdCompressor(level=19).compress(raw)
        write_atomic(args.out / "prompt-model-v1.bin.zst", packed)
        print(f"model: {len(raw)} B raw, {len(packed)} B shipped, sha256 "
              f"{hashlib.sha256(packed).hexdigest()}  ({time.time() - t0:.0f} s)", flush=True)
    if not args.skip_dict:
        d = train_zstd_dict(sentences, args.dict_size)
        write_atomic(args.out / "prompt-dict-v1.zstd", d)
        print(f"zstd dictionary: {len(d)} B, sha256 {hashlib.sha256(d).hexdigest()}  "
              f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
