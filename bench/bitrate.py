#!/usr/bin/env python3
"""Size of complete .aigif files vs the usual ways of storing the same generation record.

    nice -n 10 python bench/bitrate.py RECORDS.jsonl [--civitai-prompts FILE] [--stats FILE]
                                       [--check-all] [--markdown OUT.md]

RECORDS.jsonl is in the format of records/dev.jsonl.  Every size is of the whole record:
the .aigif file (aigif.encode, the core picks the cheapest text codec per field), A1111
infotext, compact JSON, msgpack, zstd -19 and brotli -11 of that JSON, and zstd -19 of
it with a 110 KB dictionary trained on the JSON of the *training* split of the prompt
corpora (tools/train_prompt_coder.py's hash split; dev.jsonl is never in it).

--civitai-prompts FILE: also prompt + seed files for the held-out prompts of FILE.
--held-out: prompts alone for the held-out split of each prompt corpus.
--cold: codec-3 decode speed in a fresh process (nothing cached yet).
--stats FILE: parameter-value statistics of a records file (discord-2022-records.jsonl).
--check-all: round-trip every prompt of the shared corpora through codecs 2 and 3.
Speeds are files/s of CPU time (time.process_time) of one single-threaded process, so
that other jobs on a shared machine do not distort them.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import train_prompt_coder as trainer  # noqa: E402

DEFAULT_MODEL = "CompVis/stable-diffusion-v1-4"


def json_form(rec: dict) -> dict:
    d = {
        "model": rec.get("model") or DEFAULT_MODEL,
        "prompt": rec.get("prompt"),
        "negative_prompt": rec.get("negative_prompt"),
        "seed": rec.get("seed"),
        "steps": rec.get("steps"),
        "guidance": rec.get("cfg"),
        "scheduler": rec.get("sampler"),
        "width": rec.get("width"),
        "height": rec.get("height"),
    }
    return {k: v for k, v in d.items() if v is not None}


def compact_json(d: dict) -> bytes:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def infotext(d: dict) -> bytes:
    """The A1111 parameters text for the same fields (its own key order and spelling)."""
    lines = [d.get("prompt", "")]
    if d.get("negative_prompt"):
        lines.append("Negative prompt: " + d["negative_prompt"])
    kv = []
    if "steps" in d:
        kv.append(f"Steps: {d['steps']}")
    if "scheduler" in d:
        kv.append(f"Sampler: {d['scheduler']}")
    if "guidance" in d:
        kv.append(f"CFG scale: {d['guidance']}")
    if "seed" in d:
        kv.append(f"Seed: {d['seed']}")
    if "width" in d or "height" in d:
        kv.append(f"Size: {d.get('width', 512)}x{d.get('height', 512)}")
    kv.append(f"Model: {d['model'].split('/')[-1]}" if "model" in d else "")
    lines.append(", ".join(k for k in kv if k))
    return "\n".join(lines).encode("utf-8")


def summary(sizes: list[int]) -> tuple[float, float, int]:
    s = sorted(sizes)
    return statistics.mean(s), statistics.median(s), s[min(len(s) - 1, int(0.9 * len(s)))]


def train_record_dict(seed: int = 0) -> bytes:
    """zstd dictionary over the JSON form of training-split records and Civitai prompts."""
    import zstandard

    data = trainer.shared_data_dir()
    train, _ = trainer.split(trainer.load_corpora(data))
    rng = random.Random(seed)
    samples = []
    with open(data / "prompts" / "discord-2022-records.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if not trainer.is_held_out(rec["prompt"]):
                samples.append(compact_json(json_form(rec)))
    for p in train["civitai"]:
        samples.append(compact_json({"model": DEFAULT_MODEL, "prompt": p, "seed": rng.randrange(1 << 32)}))
    return zstandard.train_dictionary(110 * 1024, samples[::2], k=1024, d=8, level=19, threads=1).as_bytes()


def measure(dicts: list[dict], record_dict: bytes) -> dict:
    import brotli
    import msgpack
    import zstandard

    import aigif

    zplain = zstandard.ZstdCompressor(level=19, write_checksum=False, write_dict_id=False)
    zd = zstandard.ZstdCompressionDict(record_dict)
    zdict = zstandard.ZstdCompressor(level=19, dict_data=zd, write_checksum=False, write_dict_id=False)
    rows: dict[str, list[int]] = {k: [] for k in (
        "aigif", "a1111", "json", "msgpack", "zstd19", "brotli11", "zstd19dict")}
    files = []
    t0 = time.process_time()
    for d in dicts:
        files.append(aigif.encode(aigif.from_dict(d)))
    t_enc = time.process_time() - t0
    t0 = time.process_time()
    for f in files:
        aigif.decode(f)
    t_dec = time.process_time() - t0
    for d, f in zip(dicts, files):
        js = compact_json(d)
        rows["aigif"].append(len(f))
        rows["a1111"].append(len(infotext(d)))
        rows["json"].append(len(js))
        rows["msgpack"].append(len(msgpack.packb(d)))
        rows["zstd19"].append(len(zplain.compress(js)))
        rows["brotli11"].append(len(brotli.compress(js, quality=11)))
        rows["zstd19dict"].append(len(zdict.compress(js)))
    # Round trip of every file, so a size is never reported for a broken encoding.
    for d, f in zip(dicts, files):
        back = aigif.to_dict(aigif.decode(f))
        assert back["prompt"] == d["prompt"] and back.get("seed") == d.get("seed"), d
    return {
        "sizes": {k: summary(v) for k, v in rows.items()},
        "enc_fps": len(dicts) / t_enc,
        "dec_fps": len(dicts) / t_dec,
        "n": len(dicts),
    }


def prompt_only(prompts: list[str]) -> dict:
    import brotli
    import zstandard

    import aigif.text.promptcoder as pc

    z = zstandard.ZstdCompressor(level=19, write_checksum=False, write_dict_id=False)
    chars = sum(len(p) for p in prompts)
    out = {}
    t0 = time.process_time()
    model = [pc.encode(p) for p in prompts]
    t_enc = time.process_time() - t0
    t0 = time.process_time()
    for data, p in zip(model, prompts):
        assert pc.decode(data, 1 << 20) == p
    t_dec = time.process_time() - t0
    cands = {
        "codec 3 (prompt model)": [len(x) for x in model],
        "codec 2 (zstd -19 + shipped dict)": [len(pc.zstd_dict_encode(p)) for p in prompts],
        "zstd -19": [len(z.compress(p.encode())) for p in prompts],
        "brotli -11": [len(brotli.compress(p.encode(), quality=11)) for p in prompts],
        "UTF-8": [len(p.encode()) for p in prompts],
    }
    for name, sizes in cands.items():
        out[name] = (statistics.mean(sizes), 8 * sum(sizes) / chars)
    return {"rows": out, "chars": chars / len(prompts), "enc_fps": len(prompts) / t_enc,
            "dec_fps": len(prompts) / t_dec, "n": len(prompts)}


def param_stats(path: Path) -> list[str]:
    recs = [json.loads(line) for line in open(path, encoding="utf-8")]
    n = len(recs)
    lines = [f"Parameter values in `{path.name}` ({n} records; 'null' = not typed by the user):", ""]
    for field in ("steps", "cfg", "sampler", "width", "height"):
        c = Counter(r.get(field) for r in recs)
        top = ", ".join(f"{k}: {100 * v / n:.1f} %" for k, v in c.most_common(8))
        lines.append(f"| {field} | {len(c)} distinct | {top} |")
    sizes = Counter((r.get("width"), r.get("height")) for r in recs)
    lines.append("| size (w, h) | {} distinct | {} |".format(
        len(sizes), ", ".join(f"{k}: {100 * v / n:.1f} %" for k, v in sizes.most_common(6))))
    seeds = [r["seed"] for r in recs if r.get("seed") is not None]
    bits = Counter(s.bit_length() for s in seeds)
    lines.append("| seed | {} present ({:.1f} %) | bit length: {}; max {}; < 2^32: {:.1f} % |".format(
        len(seeds), 100 * len(seeds) / n, ", ".join(f"{b}: {100 * v / len(seeds):.1f} %" for b, v in sorted(bits.items(), key=lambda kv: -kv[1])[:5]),
        max(seeds), 100 * sum(s < (1 << 32) for s in seeds) / len(seeds)))
    lines.insert(2, "| field | values | most common (share of records) |")
    lines.insert(3, "|---|---|---|")
    return lines


_COLD_CHILD = """
import json, sys, time
import aigif.text.promptcoder as pc
from aigif.text.promptcoder.model import get_model
t = time.process_time(); get_model(); load = time.process_time() - t
job = json.loads(sys.stdin.buffer.read())
prompts, payloads = job["prompts"], [bytes.fromhex(h) for h in job["payloads"]]
t = time.process_time()
ok = all(pc.decode(p, 1 << 20) == s for p, s in zip(payloads, prompts))
print(load, time.process_time() - t, ok)
"""


def cold_decode(name: str, prompts: list[str]) -> list[str]:
    """Decode speed in a fresh process (empty per-context caches), model load timed apart."""
    import subprocess

    import aigif.text.promptcoder as pc

    payloads = [pc.encode(p).hex() for p in prompts]
    job = json.dumps({"prompts": prompts, "payloads": payloads}).encode()
    res = subprocess.run([sys.executable, "-c", _COLD_CHILD], input=job,
                         capture_output=True, check=True, cwd=REPO)
    load, t, ok = res.stdout.decode().split()
    assert ok == "True"
    return [f"| {name} | {len(prompts)} | {sum(map(len, prompts)) / len(prompts):.0f} | {float(load):.2f} | "
            f"{len(prompts) / float(t):.0f} |"]


def check_all() -> int:
    import aigif.text.promptcoder as pc

    data = trainer.shared_data_dir()
    corpora = trainer.load_corpora(data)
    dev = [json.loads(line)["prompt"] for line in open(data / "records" / "dev.jsonl", encoding="utf-8")]
    bad = 0
    total = 0
    t0 = time.process_time()
    for name, prompts in [*corpora.items(), ("dev", sorted(set(dev)))]:
        for p in prompts:
            total += 1
            if pc.decode(pc.encode(p), 1 << 20) != p or pc.zstd_dict_decode(pc.zstd_dict_encode(p), 1 << 20) != p:
                bad += 1
                print("MISMATCH", name, repr(p[:80]))
        print(f"{name}: {len(prompts)} prompts checked ({time.process_time() - t0:.0f} s)", flush=True)
    print(f"check-all: {total} prompts, {bad} failures")
    return 1 if bad else 0


def fmt_sizes(res: dict) -> list[str]:
    names = {"aigif": ".aigif (complete file)", "a1111": "A1111 infotext", "json": "JSON (compact)",
             "msgpack": "msgpack", "zstd19": "zstd -19 of the JSON", "brotli11": "brotli -11 of the JSON",
             "zstd19dict": "zstd -19 + 110 KB dict (training split) of the JSON"}
    lines = ["| storage | mean B | median B | p90 B |", "|---|---|---|---|"]
    for k, (mean, med, p90) in res["sizes"].items():
        lines.append(f"| {names[k]} | {mean:.1f} | {med:.0f} | {p90} |")
    lines.append("")
    lines.append(f"{res['n']} files; aigif.encode {res['enc_fps']:.0f} files/s, aigif.decode {res['dec_fps']:.0f} files/s "
                 "(CPU time of one process, one thread).")
    return lines


def fmt_prompt(res: dict) -> list[str]:
    lines = [f"{res['n']} prompts, mean {res['chars']:.0f} characters.", "",
             "| coder (prompt alone) | mean B | bits/char |", "|---|---|---|"]
    for k, (mean, bpc) in res["rows"].items():
        lines.append(f"| {k} | {mean:.1f} | {bpc:.3f} |")
    lines.append("")
    lines.append(f"codec 3: encode {res['enc_fps']:.0f} prompts/s, decode {res['dec_fps']:.0f} prompts/s (CPU time, one core).")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", type=Path, nargs="?")
    ap.add_argument("--civitai-prompts", type=Path)
    ap.add_argument("--civitai-max", type=int, default=2000, help="held-out prompts used (0 = all)")
    ap.add_argument("--held-out", action="store_true",
                    help="prompt-alone table for each held-out corpus (first --civitai-max prompts of each)")
    ap.add_argument("--cold", action="store_true", help="codec-3 decode speed in a fresh process")
    ap.add_argument("--stats", type=Path)
    ap.add_argument("--check-all", action="store_true")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    out: list[str] = []

    def emit(lines):
        for line in lines:
            print(line, flush=True)
        out.extend(lines)

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if args.check_all:
        return check_all()
    record_dict = None
    if args.records or args.civitai_prompts:
        t0 = time.process_time()
        record_dict = train_record_dict()
        print(f"(record dictionary trained in {time.process_time() - t0:.0f} s)", file=sys.stderr)
    if args.records:
        recs = [json.loads(line) for line in open(args.records, encoding="utf-8")]
        dicts = [json_form(r) for r in recs]
        emit([f"## Complete files: `{args.records.name}`", ""])
        emit(fmt_sizes(measure(dicts, record_dict)))
        emit(["", f"### Prompts alone: `{args.records.name}` (one per record)", ""])
        emit(fmt_prompt(prompt_only([d["prompt"] for d in dicts])))
        emit([""])
    if args.civitai_prompts:
        prompts = [p for p in trainer._lines(args.civitai_prompts) if trainer.is_held_out(p)]
        if args.civitai_max:
            prompts = prompts[: args.civitai_max]
        rng = random.Random(1)
        dicts = [{"prompt": p, "seed": rng.randrange(1 << 32)} for p in prompts]
        emit([f"## Prompt + seed files: held-out prompts of `{args.civitai_prompts.name}`", ""])
        emit(fmt_sizes(measure(dicts, record_dict)))
        emit(["", "### Prompts alone", ""])
        emit(fmt_prompt(prompt_only(prompts)))
        emit([""])
    if args.held_out:
        for name, prompts in trainer.held_out_prompts().items():
            if not prompts:
                continue
            prompts = prompts[: args.civitai_max] if args.civitai_max else prompts
            emit([f"## Prompts alone: held-out `{name}` (hash split of tools/train_prompt_coder.py)", ""])
            emit(fmt_prompt(prompt_only(prompts)))
            emit([""])
    if args.cold:
        emit(["## Codec 3 decode speed in a fresh process (CPU time, one core)", "",
              "| prompts | n | mean chars | model load s | decoded prompts/s |", "|---|---|---|---|---|"])
        held = trainer.held_out_prompts()
        if args.records:
            emit(cold_decode(f"{args.records.name} (distinct)", sorted({r["prompt"] for r in map(json.loads, open(args.records, encoding="utf-8"))})))
        for name in ("discord", "civitai", "negative"):
            emit(cold_decode(f"held-out {name}", held[name][:1000]))
        emit([""])
    if args.stats:
        emit(param_stats(args.stats))
        emit([""])
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
