#!/usr/bin/env python3
"""Prompt coders on held-out prompts of every era: text codec 3 vs 5 vs 6 vs the per-field choice
vs brotli-11, complete 2022 files, the brotli guarantee, decode speeds.

    nice -n 10 python bench/prompt_coder.py [--tables] [--files] [--speed] [--guarantee] [--markdown OUT.md]

Held-out sets (never trained or tuned on):
- prompts/modern/*: the half that tools/train_prompt_coder.py's modern_split holds out
  (sha256 with a fixed salt); curated-2025 also as its JSON and CJK subsets;
- civitai / negative / discord: the hash split of tools/train_prompt_coder.py;
- 2022 records: the held-out prompts' records of discord-2022-records.jsonl, as complete
  .aigif files (aigif.encode) with codecs 0-3 only ("before") and with every codec.
bit/char = 8 x bytes / characters, summed over the set. "per-field choice" is what a file
pays for the prompt field: the codec ID, padding and payload of aigif's cheapest choice.
Speeds are CPU time (time.process_time) of one fresh single-threaded process per codec.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import train_prompt_coder as trainer  # noqa: E402

CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
FLAG_BITS = 9


def held_out_sets(max_old: int) -> dict[str, list[str]]:
    _, modern = trainer.modern_split()
    old = trainer.held_out_prompts()
    sets = {
        "Lexica 2024": modern["lexica-2024"],
        "Midjourney v7": modern["midjourney-v7"],
        "curated 2025 (all)": modern["curated-2025"],
        "curated 2025, JSON prompts": [p for p in modern["curated-2025"] if p.lstrip().startswith(("{", "["))],
        "curated 2025, CJK prompts": [p for p in modern["curated-2025"] if CJK.search(p)],
        "DFLIP-3K mixed": modern["dflip3k-mixed"],
        "Civitai 2023": old["civitai"][:max_old] if max_old else old["civitai"],
        "negative prompts": old["negative"][:max_old] if max_old else old["negative"],
        "Discord 2022": old["discord"][:max_old] if max_old else old["discord"],
    }
    return sets


def prompt_field_bits(codec: int, payload: bytes) -> int:
    from aigif.bits import ue_bits

    return ((FLAG_BITS + ue_bits(codec) + 7) // 8) * 8 + 8 * len(payload) - FLAG_BITS


def tables(max_old: int) -> list[str]:
    import brotli

    from aigif import text as textcodec
    from aigif.text import promptcoder as pc
    from aigif.text.promptcoder.rangecoder import PayloadBoundExceeded

    lines = ["| held-out set | prompts | mean chars | codec 3 | codec 5 | codec 6 | per-field choice | brotli-11 | UTF-8 | choice: codec 6 / 5 / 3 / 4 / other |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, prompts in held_out_sets(max_old).items():
        chars = sum(map(len, prompts))
        c3 = best = br = raw = 0
        sizes = {5: 0, 6: 0}
        picks = {3: 0, 4: 0, 5: 0, 6: 0, "other": 0}
        for p in prompts:
            d3 = pc.encode(p)
            assert pc.decode(d3, 1 << 20) == p
            for c, enc, dec in ((5, pc.adaptive_encode, pc.adaptive_decode), (6, pc.high_order_encode, pc.high_order_decode)):
                try:
                    d = enc(p)
                    assert dec(d, 1 << 20) == p
                except PayloadBoundExceeded:  # too dense for the codec's work bound: counted at codec 3's size
                    d = d3
                sizes[c] += len(d)
            c3 += len(d3)
            codec, payload = textcodec.cheapest(p, prompt_field_bits)
            assert textcodec.decode(codec, payload) == p
            best += prompt_field_bits(codec, payload)
            picks[codec if codec in picks else "other"] += 1
            br += len(brotli.compress(p.encode(), quality=11))
            raw += len(p.encode())
        n = len(prompts)
        lines.append(f"| {name} | {n} | {chars / n:.0f} | {8 * c3 / chars:.3f} | {8 * sizes[5] / chars:.3f} | {8 * sizes[6] / chars:.3f} | "
                     f"{best / chars:.3f} | {8 * br / chars:.3f} | {8 * raw / chars:.3f} | "
                     f"{picks[6]} / {picks[5]} / {picks[3]} / {picks[4]} / {picks['other']} |")
        print(lines[-1], flush=True)
    return lines


def files_2022() -> list[str]:
    import brotli

    import aigif
    from aigif import text as textcodec
    sys.path.insert(0, str(REPO / "bench"))
    from bitrate import compact_json, json_form

    data = trainer.shared_data_dir()
    recs = [json.loads(line) for line in open(data / "prompts" / "discord-2022-records.jsonl", encoding="utf-8")]
    recs = [r for r in recs if trainer.is_held_out(r["prompt"])]
    dicts = [json_form(r) for r in recs]
    full = textcodec.available
    out = ["| 2022 held-out records (discord-2022-records.jsonl) | files | mean B per complete file |", "|---|---|---|"]
    for label, codecs in (("codecs 0-3", [0, 1, 2, 3]), ("codecs 0-5", [0, 1, 2, 3, 4, 5]), ("codecs 0-6 (now)", None)):
        textcodec.available = (lambda c=codecs: c) if codecs else full
        sizes = []
        for d in dicts:
            f = aigif.encode(aigif.from_dict(d))
            assert aigif.to_dict(aigif.decode(f))["prompt"] == d["prompt"]
            sizes.append(len(f))
        out.append(f"| .aigif, {label} | {len(sizes)} | {sum(sizes) / len(sizes):.2f} |")
        print(out[-1], flush=True)
    textcodec.available = full
    br = [len(brotli.compress(compact_json(d), quality=11)) for d in dicts]
    out.append(f"| brotli -11 of the compact JSON | {len(br)} | {sum(br) / len(br):.2f} |")
    return out


_SPEED_CHILD = """
import json, sys, time
t = time.process_time()
import aigif.text.promptcoder as pc
from aigif.text.promptcoder.model import get_model
from aigif.text.promptcoder.codec6 import get_extended_model
job = json.loads(sys.stdin.buffer.read())
get_extended_model() if job["codec"] == 6 else get_model(); load = time.process_time() - t
dec = {3: pc.decode, 5: pc.adaptive_decode, 6: pc.high_order_decode}[job["codec"]]
payloads = [bytes.fromhex(h) for h in job["payloads"]]
res = [load]
for _ in range(2):  # the first pass builds the context tables (cold), the second reuses them
    t = time.process_time()
    ok = all(dec(p, 1 << 20) == s for p, s in zip(payloads, job["prompts"]))
    res.append(time.process_time() - t)
    assert ok
print(*res)
"""


def speed(max_old: int) -> list[str]:
    from aigif.text import promptcoder as pc

    sets = held_out_sets(max_old)
    sets = {k: sets[k][:1000] for k in ("Discord 2022", "Civitai 2023", "negative prompts", "Lexica 2024", "curated 2025 (all)")}
    out = ["| held-out prompts (first 1,000) | codec | model load s | cold decode prompts/s | warm decode prompts/s |",
           "|---|---|---|---|---|"]
    for name, prompts in sets.items():
        for codec, enc in ((3, pc.encode), (5, pc.adaptive_encode), (6, pc.high_order_encode)):
            keep, payloads = [], []
            for p in prompts:
                try:
                    payloads.append(enc(p).hex())
                    keep.append(p)
                except Exception:
                    pass
            job = json.dumps({"codec": codec, "prompts": keep, "payloads": payloads}).encode()
            r = subprocess.run([sys.executable, "-c", _SPEED_CHILD], input=job, capture_output=True, check=True, cwd=REPO)
            load, cold, warm = map(float, r.stdout.split())
            out.append(f"| {name} | {codec} | {load:.2f} | {len(keep) / cold:.0f} | {len(keep) / warm:.0f} |")
            print(out[-1], flush=True)
    return out


def guarantee() -> list[str]:
    """Every prompt of every shared set: the per-field choice against brotli-11 + 2 B."""
    import brotli

    from aigif import text as textcodec

    sys.path.insert(0, str(REPO / "tests"))
    prompts_dir = trainer.shared_data_dir() / "prompts"
    sets: dict[str, list[str]] = {}
    # smallest sets first, so that an interrupted sweep has covered every era
    for path in sorted((prompts_dir / "modern").glob("*.txt")):
        sets[path.name] = trainer._lines(path)
    dev = trainer.shared_data_dir() / "records" / "dev.jsonl"
    sets["dev.jsonl"] = [json.loads(line)["prompt"] for line in open(dev, encoding="utf-8")]
    sets["negative.txt"] = trainer._lines(prompts_dir / "negative.txt")
    sets["discord-2022-records.jsonl"] = [json.loads(line)["prompt"] for line in open(prompts_dir / "discord-2022-records.jsonl", encoding="utf-8")]
    sets["civitai-2023.txt"] = trainer._lines(prompts_dir / "civitai-2023.txt")
    sets["discord-2022.txt"] = trainer._lines(prompts_dir / "discord-2022.txt")
    sets["fragments"] = [p for path in sorted((prompts_dir / "fragments").rglob("*.txt")) for p in trainer._lines(path)]
    out = ["| set | prompts | over brotli-11 + 2 B | round-trip failures (chosen codec; codecs 5, 6) | most over brotli-11 (bytes) | chosen 6 / 5 / 3 / 4 / other | CPU s |",
           "|---|---|---|---|---|---|---|"]
    for name, texts in sets.items():
        t0 = time.process_time()
        over = bad = bad5 = bad6 = 0
        worst = -1 << 30
        picks = {6: 0, 5: 0, 3: 0, 4: 0, "other": 0}
        for t in dict.fromkeys(texts):
            ref = len(brotli.compress(t.encode(), quality=11))
            # textcodec.cheapest's choice, with each payload kept so that codec 5's own
            # round trip is checked on every prompt too (not only where it is chosen)
            payloads = {}
            for c in textcodec.available():
                try:
                    payloads[c] = textcodec.encode(c, t)
                except Exception:
                    pass
            codec = min(payloads, key=lambda c: (prompt_field_bits(c, payloads[c]), c))
            if textcodec.decode(codec, payloads[codec]) != t:
                bad += 1
            if codec != 5 and 5 in payloads and textcodec.decode(5, payloads[5]) != t:
                bad5 += 1
            if codec != 6 and 6 in payloads and textcodec.decode(6, payloads[6]) != t:
                bad6 += 1
            picks[codec if codec in picks else "other"] += 1
            bits = prompt_field_bits(codec, payloads[codec])
            worst = max(worst, (bits + 7) // 8 - ref)
            if bits > 8 * (ref + 2):
                over += 1
        out.append(f"| {name} | {len(dict.fromkeys(texts))} | {over} | {bad}; {bad5}, {bad6} | {worst} | "
                   f"{picks[6]} / {picks[5]} / {picks[3]} / {picks[4]} / {picks['other']} | {time.process_time() - t0:.0f} |")
        print(out[-1], flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", action="store_true")
    ap.add_argument("--files", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--guarantee", action="store_true")
    ap.add_argument("--max-old", type=int, default=2000, help="held-out prompts of the older corpora (0 = all)")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    out: list[str] = []
    t0 = time.process_time()
    if args.tables:
        out += ["### Bits per character, held-out prompts", ""] + tables(args.max_old) + [""]
    if args.files:
        out += ["### Complete 2022 files", ""] + files_2022() + [""]
    if args.speed:
        out += ["### Decode speed (CPU time of one fresh process per codec)", ""] + speed(args.max_old) + [""]
    if args.guarantee:
        out += ["### The brotli guarantee, every prompt of every shared set", ""] + guarantee() + [""]
    out.append(f"({time.process_time() - t0:.0f} s CPU)")
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n", encoding="utf-8")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
