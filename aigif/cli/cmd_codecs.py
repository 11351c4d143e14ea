"""`aigif codecs [--json]`: list the fallback pixel codecs and the --codec values they take."""

from __future__ import annotations

import json
import sys

from .. import pixels
from ..errors import ExitStatus


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "codecs",
        help="list fallback pixel codecs and their rate points",
        description="List every fallback pixel codec with its ID and the NAME[:RATE] values that "
        "--codec accepts (a RATE written a..b means any integer in that range).",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args) -> int:
    codecs = pixels.list_codecs()
    if args.json:
        rows = [
            {"id": c.id, "name": c.name, "lossless": c.lossless, "available": c.available,
             "reason": c.reason, "default_rate": c.default_rate, "rate_points": c.rate_points,
             "specs": c.spec_forms(), "description": c.description}
            for c in codecs
        ]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitStatus.OK
    out = sys.stdout
    out.write(f"{'ID':>3}  {'NAME':<9} {'LOSSLESS':<8} --codec values\n")
    for c in codecs:
        forms = " ".join(c.spec_forms()) if c.available else f"(unavailable: {c.reason})"
        default = f"  [default rate {c.default_rate}]" if c.available and c.default_rate else ""
        out.write(f"{c.id:>3}  {c.name:<9} {'yes' if c.lossless else 'no':<8} {forms}{default}\n")
    return ExitStatus.OK
