#!/usr/bin/env python3
"""What `unpack --reference` adds to an unpack (issue 16 item 18): the CLI on a 64x64
pixels-only file with and without --reference, each in a fresh process, CPU time (user +
sys of the child) and wall time, median of N runs; and the LPIPS availability check alone.

A pixels-only file needs no torch; before this change the LPIPS check imported lpips (and
with it torch and torchvision) only to report that the AlexNet weights are missing.

    nice -n 10 python bench/reference_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    aigif = str(Path(sys.executable).with_name("aigif"))
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image

        ref = Path(tmp) / "ref.png"
        Image.new("RGB", (64, 64), (200, 10, 10)).save(ref)
        f = Path(tmp) / "p.aigif"
        subprocess.run([aigif, "pack", "--image", str(ref), "-o", str(f)], check=True, capture_output=True)
        cases = {
            "unpack": [aigif, "unpack", str(f), "-o", str(Path(tmp) / "o.png")],
            "unpack --reference": [aigif, "unpack", str(f), "-o", str(Path(tmp) / "o.png"), "--reference", str(ref)],
            "lpips_status() alone": [sys.executable, "-c", "from aigif import metrics; metrics.lpips_status()"],
        }
        for name, cmd in cases.items():
            samples = [run(cmd) for _ in range(args.runs)]
            cpu = statistics.median(s[0] for s in samples)
            wall = statistics.median(s[1] for s in samples)
            print(f"{name:24s} cpu {cpu:6.2f} s   wall {wall:6.2f} s   (median of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
