"""The coverage-guided engine: atheris (libFuzzer) on the same targets as the mutation engine.

    .venv/bin/python -m fuzz --engine atheris --time 600 --targets decoder,importers

atheris runs the target in its own process, so the parent (`main`) runs one child per
target, `python -m fuzz.atheris_engine TARGET CORPUS [libFuzzer options]`, each for its
share of --time (or --inputs).  The harness's per-input limits become libFuzzer's:
-rss_limit_mb is the child's size after warm-up plus --mem-limit, RLIMIT_AS the same
(so a big allocation fails as MemoryError instead of swapping), and -timeout covers a
runaway; an input over --cpu-limit CPU seconds is reported as a finding ("slow") by the
callback itself.  libFuzzer stops a target at its first finding and writes the input to
FINDINGS/atheris-TARGET-crash-<sha1> (or -timeout-/-oom-); the parent reports it and
goes on with the next target.

Inputs: `decoder` gets the bytes as an .aigif, `image` as an image file; `tool:NAME` gets
the recipe's field values joined by NUL bytes (the corpus starts from the recipe), which
are put back into the recipe's keys and built into an image, so that coverage guides the
mutation of the metadata text rather than of the PNG around it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .worker import REPO, Limits

SEP = b"\0"


class SlowInput(Exception):
    """An input that took more CPU than the per-input limit: a finding, as in the mutation engine."""


# -- child -----------------------------------------------------------------------------------
def _callback(target: str, cpu_s: float):
    from aigif.errors import AigifError

    from . import seeds, targets

    if target == "decoder":
        def run(data: bytes):
            return targets.decode(data)
    elif target == "image":
        def run(data: bytes):
            return targets.import_bytes(data)
    else:
        container, fields = seeds.recipes()[target[5:]]
        keys = [k for k, _ in fields]

        def run(data: bytes):
            values = data.split(SEP, len(keys) - 1)
            chosen = [(k, v.decode("utf-8", "replace")) for k, v in zip(keys, values)]
            return targets.import_bytes(seeds.build_image(container, chosen))

    quiet = open(os.devnull, "w")

    def one(data: bytes) -> None:
        t0 = time.process_time()
        try:
            with contextlib.redirect_stdout(quiet):  # the targets print (`aigif info`)
                info = run(data)
        except AigifError:
            info = None  # a clean refusal
        spent = time.process_time() - t0
        if spent > cpu_s:
            raise SlowInput(f"{spent:.2f} s of CPU, over the {cpu_s} s limit")
        if isinstance(info, dict) and info.get("violation"):
            raise AssertionError(info["violation"])

    return one


def _rss_mb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def child(argv: list[str]) -> None:
    """argv: TARGET CPU_S MEM_MB CORPUS [libFuzzer options...]"""
    import atheris

    target, cpu_s, mem_mb, corpus, rest = argv[0], float(argv[1]), int(argv[2]), argv[3], argv[4:]
    with atheris.instrument_imports(include=["aigif"]):
        from aigif.importers import parsers

        from . import targets
        from .worker import _warm_up

        parsers()  # every tool module, instrumented, before the first input
        import aigif.cli.main  # noqa: F401

        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            _warm_up(targets)  # the lazily imported modules too (codecs, Pillow plugins)
    one = _callback(target, cpu_s)
    idle = _rss_mb()
    with open("/proc/self/status") as f:
        size = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:")), 0)
    if size:
        limit = size + mem_mb * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    opts = [f"-rss_limit_mb={idle + mem_mb}", f"-timeout={math.ceil(cpu_s) + 1}", "-print_final_stats=1"]
    atheris.Setup([sys.argv[0]] + opts + rest + [corpus], one)
    atheris.Fuzz()


# -- parent ----------------------------------------------------------------------------------
def _write_corpus(target: str, folder: Path) -> None:
    from . import seeds

    if target == "decoder":
        items = seeds.aigif_seeds()
    elif target == "image":
        items = seeds.image_seeds()
    else:
        _, fields = seeds.recipes()[target[5:]]
        items = [SEP.join(v.encode("utf-8", "surrogatepass") for _, v in fields)]
    for i, data in enumerate(items):
        (folder / f"seed-{i:03d}").write_bytes(data)


def available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def main(args, limits: Limits) -> int:
    if not available():
        raise SystemExit("--engine atheris: atheris is not installed (pip install atheris), use --engine mutate")
    from . import seeds
    from .run import expand_targets

    names = list(dict.fromkeys(expand_targets(args.targets, seeds.recipes())))
    if args.time is None and args.inputs is None:
        args.inputs = 1000
    per_time = max(1, int(args.time / len(names))) if args.time is not None else None
    per_runs = max(1, args.inputs // len(names)) if args.inputs is not None else None
    findings_dir = Path(args.findings) if args.findings else Path(tempfile.mkdtemp(prefix="aigif-atheris-"))
    findings_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("AIGIF_DEBUG", None)
    total, found, per_target, start = 0, [], {}, time.monotonic()
    print(f"fuzz: atheris, seed {args.seed}, {len(names)} targets, limits {limits.cpu_s} s CPU / {limits.mem_mb} MB",
          file=sys.stderr)
    for name in names:
        with tempfile.TemporaryDirectory(prefix="aigif-atheris-corpus-") as corpus:
            _write_corpus(name, Path(corpus))
            opts = [f"-seed={args.seed}", f"-artifact_prefix={findings_dir}/atheris-{name.replace(':', '-')}-"]
            if per_time is not None:
                opts.append(f"-max_total_time={per_time}")
            if per_runs is not None:
                opts.append(f"-runs={per_runs}")
            cmd = [sys.executable, "-m", "fuzz.atheris_engine", name, str(limits.cpu_s), str(limits.mem_mb), corpus, *opts]
            # the wall limit: the target's share plus start-up (instrumenting and warming up)
            wall = (per_time or 0) + (per_runs or 0) * (limits.cpu_s + 1) + 120
            try:
                p = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=wall)
                log, rc = p.stderr + p.stdout, p.returncode
            except subprocess.TimeoutExpired as e:
                log, rc = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or ""), -9
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
        runs = int(m.group(1)) if m else 0
        total += runs
        per_target[name] = runs
        artifact = re.search(r"Test unit written to (\S+)", log)
        if rc != 0:
            why = (re.search(r"=== Uncaught Python exception: ===\n(.+)", log)
                   or re.search(r"ERROR: libFuzzer: (.+)", log))  # timeout, out-of-memory, a crash in C
            found.append((name, why.group(1) if why else f"exit {rc}", artifact.group(1) if artifact else None))
            print(f"fuzz: finding in {name}: {found[-1][1]}" + (f" -> {found[-1][2]}" if found[-1][2] else ""),
                  file=sys.stderr)
        print(f"fuzz: {name}: {runs} inputs", file=sys.stderr)
    print(f"inputs run: {total} (atheris) over {len(names)} targets; findings: {len(found)}")
    for name, why, path in found:
        print(f"  {name:28s} {why[:100]}" + (f"  -> {path}" if path else ""))
    if args.json:
        summary = {"engine": "atheris", "seed": args.seed, "inputs": total, "seconds": round(time.monotonic() - start, 1),
                   "per_target": per_target, "limits": {"cpu_s": limits.cpu_s, "mem_mb": limits.mem_mb},
                   "findings": [{"target": n, "what": w, "saved": pth} for n, w, pth in found]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 1 if found else 0


if __name__ == "__main__":
    child(sys.argv[1:])
