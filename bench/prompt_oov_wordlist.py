#!/usr/bin/env python3
"""What a word-list model for out-of-vocabulary pieces would save (issue 14; an estimate).

Text codec 3 spells every piece outside its vocabulary byte by byte under an order-1 byte
model.  This estimates, on the held-out sets of bench/prompt_coder.py, what those pieces
would cost if a multilingual word list were consulted first: one flag bit, then either the
word under the list's unigram frequencies (plus a case bit and a leading-space bit; only
lower-case and capitalised forms count as found) or the spelling as today.  Ideal code
lengths, no coder; the rest of each payload is left as it is.

Needs wordfreq (not a project dependency: its data is CC-BY-SA 4.0; `pip install wordfreq`,
offline from the local index here), and its zh/ja/ko lists need jieba/MeCab only for
tokenizing, which this does not do.

  python bench/prompt_oov_wordlist.py [--per-language 100000]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

LANGS = ["en", "fr", "es", "de", "it", "pt", "vi", "nl", "ru", "zh", "ja", "ko"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=100_000, help="the most frequent words kept per language")
    args = ap.parse_args(argv)
    import wordfreq

    import prompt_coder
    from aigif.text import promptcoder as pc
    from aigif.text.promptcoder.model import BYTE_END, BYTE_START_CTX, get_model
    from aigif.text.promptcoder.tokenize import pieces

    model = get_model()
    freq: dict[str, float] = {}
    for lang in LANGS:
        d = wordfreq.get_frequency_dict(lang, wordlist="best")
        for w, f in sorted(d.items(), key=lambda kv: -kv[1])[: args.per_language]:
            freq[w] = max(f, freq.get(w, 0.0))
    total = sum(freq.values())

    def spelled_bits(piece: str) -> float:
        bits, prev = 0.0, BYTE_START_CTX
        for byte in [*piece.encode("utf-8"), BYTE_END]:
            cum = model.bytes_ctx[prev].cum
            bits -= math.log2((cum[byte + 1] - cum[byte]) / cum[-1])
            prev = byte
        return bits

    print(f"word list: {len(freq):,} words ({len(LANGS)} languages, top {args.per_language:,} each)\n")
    print("| held-out set | OOV pieces | found in the list | OOV bits now | with the list | codec 3 bit/char | with the list |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    sets = prompt_coder.held_out_sets(2000)
    for name in ("Lexica 2024", "Midjourney v7", "curated 2025 (all)", "DFLIP-3K mixed", "Civitai 2023", "negative prompts"):
        prompts = sets[name]
        chars = sum(map(len, prompts))
        bits = sum(8 * len(pc.encode(p)) for p in prompts)
        now = alt = 0.0
        n = found = 0
        for p in prompts:
            for piece in pieces(p):
                if piece in model.piece_ids:
                    continue
                n += 1
                s = spelled_bits(piece)
                now += s
                word = piece.strip()
                key = word.lower()
                if len(word) > 1 and key in freq and word in (key, key.capitalize()):
                    found += 1
                    alt += 3 - math.log2(freq[key] / total)  # flag, case, space + the word
                else:
                    alt += 1 + s
        print(f"| {name} | {n} | {found} ({100 * found / max(1, n):.0f} %) | {now:,.0f} | {alt:,.0f} | "
              f"{bits / chars:.3f} | {(bits - now + alt) / chars:.3f} ({100 * (alt - now) / bits:+.1f} %) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
