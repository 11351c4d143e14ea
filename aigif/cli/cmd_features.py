"""`aigif features FILE`: the Omni-ICM feature array a file stores (pack --codec omni:Q or omni:Q/G).

Codec 18 decodes to features for machine tasks, not pixels: integers (C, rows, cols)
times the payload's quantiser step (spec/codecs.md section 7), the same bits on every
machine.  Without options a summary is printed; --json writes the array to stdout,
-o OUT.npy writes it as a NumPy file (float32 features, or int8 with --ints; never a
pickle)."""

from __future__ import annotations

import io
import json
import sys

from .. import limits, pixels
from ..errors import CodecError, ExitStatus, InvalidSyntax
from ..fileio import read_bytes, write_atomic
from ..format import decode

OMNI_ID = pixels.OMNI_ID


def add_parser(sub) -> None:
    p = sub.add_parser("features", help="print or save the Omni-ICM features a file stores", description=__doc__)
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="write {q, step, shape, ints, features} as JSON to stdout")
    p.add_argument("-o", "--output", metavar="OUT.npy", help="write the array as a .npy file (atomically)")
    p.add_argument("--ints", action="store_true", help="-o: write the int8 integers instead of float32 integers * step")
    p.set_defaults(run=run)


def read_features(path: str):
    """The decoded features of the file's critical pixels payload (CodecError if it has none of codec 18)."""
    syntax = decode(read_bytes(path))
    stored = syntax.critical_pixels()
    if stored is None:
        raise CodecError(f"{path} stores no Omni-ICM features (no pixels payload; pack --image X --codec omni:Q writes one)")
    if stored.codec_id != OMNI_ID:
        name = pixels.CODEC_NAMES.get(stored.codec_id, str(stored.codec_id))
        raise CodecError(f"{path} stores pixels (codec {name}), not Omni-ICM features: `aigif unpack` decodes them")
    return pixels.codecs().features(OMNI_ID, stored.data, max_pixels=limits.MAX_PIXELS), len(stored.data)


def run(args) -> int:
    if args.ints and not args.output:
        raise InvalidSyntax("--ints is for -o OUT.npy")
    if args.output and not args.output.endswith(".npy"):
        raise InvalidSyntax(f"-o {args.output}: the output is a NumPy file, name it *.npy")
    feats, n_bytes = read_features(args.file)
    if args.output:
        import numpy as np  # lazy: numpy comes with the [codecs] extra; `import aigif.cli.main` stays light

        buf = io.BytesIO()
        np.save(buf, feats.ints if args.ints else feats.values(), allow_pickle=False)
        write_atomic(args.output, buf.getvalue())
    if args.json:
        json.dump({"codec": OMNI_ID, "q": feats.q, "grid": feats.grid, "step": feats.step, "width": feats.width, "height": feats.height,
                   "shape": list(feats.ints.shape), "ints": feats.ints.tolist(),
                   "features": feats.values().tolist()}, sys.stdout)
        sys.stdout.write("\n")
        return ExitStatus.OK
    c, rows, cols = feats.ints.shape
    spec = f"omni:{feats.q}/{feats.grid}" if feats.grid else f"omni:{feats.q}"
    pooled = f", averaged over a {feats.grid} x {feats.grid} grid" if feats.grid else ""
    print(f"{args.file}: Omni-ICM features, {spec} (step {feats.step}{pooled}), {c} x {rows} x {cols} "
          f"for a {feats.width}x{feats.height} image; {n_bytes} bytes, {8 * n_bytes / (feats.width * feats.height):.4f} bpp; "
          f"{100 * float((feats.ints != 0).mean()):.1f} % non-zero"
          + (f"; wrote {args.output}" if args.output else ""))
    return ExitStatus.OK
