"""The campaign: generate mutated inputs for each target, run them in the limited worker,
keep what is new, minimise and save the findings, print a summary.

    .venv/bin/python -m fuzz --time 600 --seed 1               # decoder + every importer
    .venv/bin/python -m fuzz --inputs 2000 --targets decoder
    .venv/bin/python -m fuzz --engine atheris --time 60         # coverage-guided, where atheris is installed

Targets: `decoder` (aigif.decode, inspect, read, `aigif info`, re-encode round trip),
`image` (byte and PNG-chunk mutations of whole images through import_image), and
`tool:NAME` for each importer recipe in fuzz/seeds.py (text/JSON mutations of the
metadata fields, built into a valid PNG/JPEG/WebP).  `importers` means image + every tool.

The run is a pure function of --seed and the number of inputs: --time only decides
where the same sequence stops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import mutate, seeds
from .minimize import ddmin
from .worker import REPO, Limits, Result, Worker

DEFAULT_FINDINGS = REPO / "fuzz" / "findings"
POOL_MAX = 200  # inputs kept per target because they reached an outcome not seen before


@dataclass
class Case:
    target: str  # campaign target name (decoder, image, tool:NAME)
    worker_target: str  # targets.TARGETS key
    data: bytes
    recipe: tuple | None = None  # (container, fields) for tool inputs: minimised field by field


@dataclass
class Finding:
    cls: str
    case: Case
    result: Result
    index: int
    count: int = 1


@dataclass
class Stats:
    inputs: int = 0
    per_target: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    findings: dict = field(default_factory=dict)  # key -> Finding
    finding_classes: Counter = field(default_factory=Counter)  # every input, not only unique ones
    slowest: list = field(default_factory=list)  # (cpu_s, target, size, index)
    max_rss_mb: float = 0.0
    max_rss_at: str = ""
    slow_inputs: int = 0
    big_rss_inputs: int = 0
    restarts: int = 0
    seconds: float = 0.0


class Generator:
    """Deterministic input generation, one target after another in a fixed cycle."""

    def __init__(self, seed: int, target_names: list[str]):
        self.rng = random.Random(seed)
        self.aigif = seeds.aigif_seeds()
        self.images = seeds.image_seeds()
        self.recipes = seeds.recipes()
        self.targets = target_names
        self.pools: dict[str, list] = defaultdict(list)
        self.i = 0

    def next(self) -> Case:
        name = self.targets[self.i % len(self.targets)]
        self.i += 1
        rng = self.rng
        pool = self.pools[name]
        if name == "decoder":
            base = rng.choice(pool) if pool and rng.random() < 0.3 else rng.choice(self.aigif)
            return Case(name, "decode", mutate.mutate_aigif(rng, base, self.aigif))
        if name == "image":
            base = rng.choice(pool) if pool and rng.random() < 0.3 else rng.choice(self.images)
            m = mutate.mutate_png if base.startswith(mutate.PNG_SIGNATURE) else mutate.mutate_bytes
            return Case(name, "import", m(rng, base, self.images))
        container, fields = rng.choice(pool) if pool and rng.random() < 0.3 else self.recipes[name[5:]]
        fields = list(fields)
        for _ in range(rng.choice((1, 1, 1, 2))):
            i = rng.randrange(len(fields))
            k, v = fields[i]
            fields[i] = (k, mutate.mutate_text(rng, v))
        recipe = (container, tuple(fields))
        return Case(name, "import", seeds.build_image(container, fields), recipe)

    def keep(self, case: Case) -> None:
        pool = self.pools[case.target]
        item = case.recipe if case.recipe is not None else case.data
        if len(pool) < POOL_MAX:
            pool.append(item)
        else:
            pool[self.rng.randrange(POOL_MAX)] = item


def expand_targets(spec: str, recipes) -> list[str]:
    out = []
    for part in spec.split(","):
        part = part.strip()
        if part == "importers":
            out += ["image"] + [f"tool:{r}" for r in sorted(recipes)]
        elif part in ("decoder", "image"):
            out.append(part)
        elif part.startswith("tool:") and part[5:] in recipes:
            out.append(part)
        elif part in recipes:
            out.append("tool:" + part)
        elif part:
            raise SystemExit(f"unknown fuzz target {part!r} (decoder, image, importers, tool:NAME)")
    # the decoder is one target against ~30 importer recipes: give it a third of the inputs
    if "decoder" in out and len(out) > 3:
        out += ["decoder"] * max(1, len(out) // 2 - 1)
        out = _interleave(out)
    return out


def _interleave(names: list[str]) -> list[str]:
    dec = [n for n in names if n == "decoder"]
    rest = [n for n in names if n != "decoder"]
    out = []
    while dec or rest:
        if rest:
            out.append(rest.pop(0))
        if dec:
            out.append(dec.pop(0))
        if rest:
            out.append(rest.pop(0))
    return out


def finding_key(case: Case, cls: str, r: Result) -> tuple:
    return (case.target, cls, r.where or r.type)


def same_finding(cls: str, r0: Result, limits: Limits):
    def pred(r: Result) -> bool:
        c = r.finding(limits)
        if c != cls:
            return False
        return not cls.startswith("exception:") or r.where == r0.where
    return pred


def minimise(worker: Worker, f: Finding, limits: Limits, budget_s: float) -> Case:
    """Delta-debug the input while it still gives the same finding (same class, same place)."""
    pred = same_finding(f.cls, f.result, limits)
    deadline = time.monotonic() + budget_s
    case = f.case
    if case.recipe is not None:
        container, fields = case.recipe
        fields = list(fields)
        # drop whole fields first, then shrink each remaining value
        for i in range(len(fields) - 1, -1, -1):
            trial = fields[:i] + fields[i + 1:]
            if trial and time.monotonic() < deadline and pred(worker.run("import", seeds.build_image(container, trial))):
                fields = trial
        for i, (k, v) in enumerate(fields):
            def test(s: str, i=i, k=k) -> bool:
                trial = fields[:i] + [(k, s)] + fields[i + 1:]
                return pred(worker.run("import", seeds.build_image(container, trial)))
            fields[i] = (k, ddmin(v, test, deadline))
        return Case(case.target, "import", seeds.build_image(container, fields), (container, tuple(fields)))
    sealed = case.worker_target == "decode" and mutate.reseal_aigif(case.data) == case.data

    def test_bytes(b: bytes) -> bool:
        if sealed:
            b = mutate.reseal_aigif(b)
        return pred(worker.run(case.worker_target, b))

    small = ddmin(case.data, test_bytes, deadline)
    return Case(case.target, case.worker_target, mutate.reseal_aigif(small) if sealed else small)


def save(f: Finding, small: Case, out_dir: Path, seed: int) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(small.data).hexdigest()[:12]
    ext = {"decode": ".aigif"}.get(small.worker_target) or _image_ext(small.data)
    stem = f"{f.cls.replace(':', '-')}--{small.target.replace(':', '-')}--{digest}"
    path = out_dir / (stem + ext)
    path.write_bytes(small.data)
    meta = {
        "class": f.cls, "target": small.target, "worker_target": small.worker_target, "campaign_seed": seed,
        "input_index": f.index, "hits": f.count, "original_bytes": len(f.case.data), "minimised_bytes": len(small.data),
        "exception": f.result.type, "message": f.result.message, "where": f.result.where, "traceback": f.result.tb,
        "cpu_s": round(f.result.cpu_s, 3), "rss_mb": round(f.result.rss_mb, 1), "violation": f.result.info.get("violation"),
        "recipe": [small.recipe[0], [list(kv) for kv in small.recipe[1]]] if small.recipe else None,
        "replay": f".venv/bin/python -m fuzz --replay {path.relative_to(REPO) if path.is_relative_to(REPO) else path}"
                  f" --replay-target {small.worker_target}",
    }
    (out_dir / (stem + ".json")).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return path


def _image_ext(data: bytes) -> str:
    if data.startswith(mutate.PNG_SIGNATURE):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[:4] == b"RIFF":
        return ".webp"
    return ".bin"


def campaign(seed: int, target_names: list[str], *, inputs: int | None, seconds: float | None, limits: Limits,
             findings_dir: Path | None, minimise_s: float = 30.0, minimise_total_s: float = 300.0,
             log=sys.stderr) -> Stats:
    gen = Generator(seed, target_names)
    stats = Stats()
    seen_outcomes: set = set()
    start = time.monotonic()
    last_report = start
    with Worker(limits) as worker:
        while True:
            if inputs is not None and stats.inputs >= inputs:
                break
            if seconds is not None and time.monotonic() - start >= seconds:
                break
            case = gen.next()
            r = worker.run(case.worker_target, case.data)
            stats.inputs += 1
            stats.per_target[case.target] += 1
            outcome = (case.target, r.status, r.code or r.type, r.where, r.info.get("tool"))
            stats.outcomes[(r.status, r.code or r.type)] += 1
            if outcome not in seen_outcomes:
                seen_outcomes.add(outcome)
                gen.keep(case)
            if r.cpu_s > limits.cpu_s:
                stats.slow_inputs += 1
            if r.rss_mb > limits.mem_mb:
                stats.big_rss_inputs += 1
            stats.slowest.append((round(r.cpu_s, 3), case.target, len(case.data), stats.inputs - 1))
            if len(stats.slowest) > 50:
                stats.slowest = sorted(stats.slowest, reverse=True)[:10]
            if r.rss_mb > stats.max_rss_mb:
                stats.max_rss_mb, stats.max_rss_at = r.rss_mb, f"{case.target} #{stats.inputs - 1} ({len(case.data)} B)"
            cls = r.finding(limits)
            if cls:
                stats.finding_classes[cls] += 1
                key = finding_key(case, cls, r)
                if key in stats.findings:
                    stats.findings[key].count += 1
                else:
                    stats.findings[key] = Finding(cls, case, r, stats.inputs - 1)
                    print(f"fuzz: finding #{len(stats.findings)} {cls} in {case.target} at input {stats.inputs - 1}"
                          f" ({r.where or r.message[:80]})", file=log)
            if log and time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                print(f"fuzz: {stats.inputs} inputs, {len(stats.findings)} unique findings,"
                      f" {time.monotonic() - start:.0f} s", file=log)
        stats.seconds = time.monotonic() - start
        stats.restarts = worker.restarts
        if findings_dir is not None:
            # fast findings first: a slow input costs seconds per minimisation step
            order = sorted(stats.findings.values(), key=lambda f: f.cls in ("slow", "cpu-limit", "wall-timeout"))
            until = time.monotonic() + minimise_total_s
            for f in order:
                left = until - time.monotonic()
                small = minimise(worker, f, limits, min(minimise_s, left)) if left > 0 else f.case
                f.saved = save(f, small, findings_dir, seed)
    stats.slowest = sorted(stats.slowest, reverse=True)[:10]
    return stats


def summary(stats: Stats, limits: Limits) -> dict:
    return {
        "inputs": stats.inputs,
        "seconds": round(stats.seconds, 1),
        "inputs_per_second": round(stats.inputs / stats.seconds, 1) if stats.seconds else None,
        "per_target": dict(sorted(stats.per_target.items())),
        "outcomes": {f"{s}:{c}" if c else s: n for (s, c), n in stats.outcomes.most_common()},
        "findings_by_class": dict(stats.finding_classes.most_common()),
        "unique_findings": [
            {"class": f.cls, "target": k[0], "where": f.result.where, "type": f.result.type,
             "message": f.result.message[:160], "hits": f.count, "first_input": f.index,
             "saved": str(getattr(f, "saved", "")) or None}
            for k, f in stats.findings.items()
        ],
        "limits": {"cpu_s": limits.cpu_s, "mem_mb": limits.mem_mb},
        "slow_inputs": stats.slow_inputs,
        "slowest": [{"cpu_s": c, "target": t, "bytes": n, "input": i} for c, t, n, i in stats.slowest[:5]],
        "max_rss_mb": round(stats.max_rss_mb, 1),
        "max_rss_at": stats.max_rss_at,
        "inputs_over_mem": stats.big_rss_inputs,
        "worker_restarts": stats.restarts,
    }


def print_summary(s: dict, out=sys.stdout) -> None:
    print(f"inputs run: {s['inputs']} in {s['seconds']} s ({s['inputs_per_second']}/s), "
          f"worker restarts: {s['worker_restarts']}", file=out)
    print("per target: " + ", ".join(f"{k} {v}" for k, v in s["per_target"].items()), file=out)
    print("findings by class: " + (", ".join(f"{k} {v}" for k, v in s["findings_by_class"].items()) or "none"), file=out)
    for f in s["unique_findings"]:
        print(f"  {f['class']:28s} {f['target']:28s} {f['where'] or f['message'][:60]}  x{f['hits']}"
              + (f"  -> {f['saved']}" if f["saved"] else ""), file=out)
    print(f"inputs over {s['limits']['cpu_s']} s CPU: {s['slow_inputs']}; slowest: "
          + ", ".join(f"{x['cpu_s']} s ({x['target']}, {x['bytes']} B)" for x in s["slowest"][:3]), file=out)
    print(f"max RSS growth of one input: {s['max_rss_mb']} MB ({s['max_rss_at']}); "
          f"inputs over {s['limits']['mem_mb']} MB: {s['inputs_over_mem']}", file=out)


def replay(path: Path, target: str, limits: Limits) -> int:
    data = str(path.resolve()).encode() if target in ("read", "import_path") else path.read_bytes()
    with Worker(limits) as w:
        r = w.run(target, data)
    cls = r.finding(limits)
    print(json.dumps({"finding": cls, "status": r.status, "type": r.type, "code": r.code, "message": r.message,
                      "where": r.where, "cpu_s": round(r.cpu_s, 3), "rss_mb": round(r.rss_mb, 1)}, indent=2))
    if r.tb:
        print(r.tb, file=sys.stderr)
    return 1 if cls else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    p.add_argument("--targets", default="decoder,importers")
    p.add_argument("--cpu-limit", type=float, default=2.0, help="CPU seconds per input (default 2)")
    p.add_argument("--mem-limit", type=int, default=400, help="MB of peak memory per input (default 400)")
    p.add_argument("--findings", default=str(DEFAULT_FINDINGS), help="folder for minimised findings ('' = none)")
    p.add_argument("--minimise-time", type=float, default=30.0, help="seconds of minimisation per finding")
    p.add_argument("--minimise-total", type=float, default=300.0,
                   help="seconds of minimisation in all; findings past it are saved as found")
    p.add_argument("--json", help="also write the summary as JSON to this file")
    p.add_argument("--engine", choices=("mutate", "atheris"), default="mutate",
                   help="mutate: the plain mutation engine (default); atheris: coverage-guided libFuzzer,"
                        " one child per target for its share of --time/--inputs (fuzz/atheris_engine.py)")
    p.add_argument("--replay", type=Path, help="run one saved input under the limits and report")
    p.add_argument("--replay-target", default="import")
    args = p.parse_args(argv)
    limits = Limits(cpu_s=args.cpu_limit, mem_mb=args.mem_limit)
    if args.replay:
        return replay(args.replay, args.replay_target, limits)
    if args.engine == "atheris":
        from .atheris_engine import main as atheris_main

        return atheris_main(args, limits)
    if args.time is None and args.inputs is None:
        args.inputs = 1000
    names = expand_targets(args.targets, seeds.recipes())
    print(f"fuzz: seed {args.seed}, {len(set(names))} targets, limits {limits.cpu_s} s CPU / {limits.mem_mb} MB",
          file=sys.stderr)
    stats = campaign(args.seed, names, inputs=args.inputs, seconds=args.time, limits=limits,
                     findings_dir=Path(args.findings) if args.findings else None, minimise_s=args.minimise_time,
                     minimise_total_s=args.minimise_total)
    s = summary(stats, limits)
    s["command"] = "python -m fuzz " + " ".join(argv if argv is not None else sys.argv[1:])
    s["seed"] = args.seed
    print_summary(s)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=2))
    return 1 if stats.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
