#!/usr/bin/env python3
"""File sizes of the v1 format on the dev records, per text-codec set, and the framing budget.

    python bench/format_sizes.py [RECORDS.jsonl]

For each record (dev.jsonl format, mapped to the JSON form as in the issue: cfg -> guidance,
sampler -> scheduler, model CompVis/stable-diffusion-v1-4): the size of the complete
.aigif file when the encoder may use text codecs {0,1} (the v1 baseline: raw / zstd) and
{0,1,2,3} (all), and the size with an empty prompt (what the parameters cost).
"""

import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aigif  # noqa: E402
from aigif import text as textcodec  # noqa: E402


def json_form(r):
    d = {"model": "CompVis/stable-diffusion-v1-4", "prompt": r["prompt"]}
    for a, b in (("negative_prompt", "negative_prompt"), ("seed", "seed"), ("steps", "steps"), ("cfg", "guidance"),
                 ("sampler", "scheduler"), ("width", "width"), ("height", "height")):
        if r.get(a) is not None:
            d[b] = r[a]
    return d


def stats(xs):
    xs = sorted(xs)
    return f"{statistics.mean(xs):.1f} | {statistics.median(xs):.0f} | {xs[int(0.9 * (len(xs) - 1))]}"


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "records" / "dev.jsonl")
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    full = textcodec.available()
    rows = []
    for label, codecs in (("raw UTF-8 only", [0]), ("v1 baseline: raw or zstd", [0, 1]), ("all text codecs (raw, zstd, zstd+dict, prompt model)", full)):
        textcodec.available = lambda c=codecs: list(c)
        sizes = [len(aigif.encode(aigif.from_dict(json_form(r)))) for r in recs]
        rows.append((label, stats(sizes)))
    textcodec.available = lambda: full
    params = [len(aigif.encode(aigif.from_dict(dict(json_form(r), prompt="")))) for r in recs]
    print(f"{len(recs)} records from {path.name}\n")
    print("| text codecs the encoder may use | mean B | median B | p90 B |")
    print("|---|---:|---:|---:|")
    for label, st in rows:
        print(f"| {label} | {st} |")
    print(f"| parameters only (empty prompt) | {stats(params)} |")
    cat = aigif.encode(aigif.from_dict({"prompt": "a cat", "seed": 1}))
    costs, overhead = aigif.inspect(cat)
    framing = overhead + sum(c.framed_bytes - c.body_bytes for c in costs)
    print(f"\n`aigif pack --no-generate --prompt \"a cat\" --seed 1`: {len(cat)} bytes, of which {framing} bytes of signature, version, framing, END and CRC.")


if __name__ == "__main__":
    main()
