"""Write tests/goldens/a1111/rng.json: A1111's own noise for many seeds, shapes, batches,
variation seeds, seed resizes and ENSD settings.

    python tools/goldens/a1111_rng_goldens.py --a1111 /path/to/stable-diffusion-webui \
        --out tests/goldens/a1111/rng.json

The checkout must be A1111 v1.10.x (README.md there names the commit used).  Each
tensor is stored as the sha256 of its float32 bytes (C order, little-endian) plus its
first values, which keeps the file small and the comparison bit-exact.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import a1111_reference  # noqa: E402

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

SEEDS = [
    0, 1, 2, 3, 7, 42, 1000, 1234, 31337, 65535, 65536, 123456789, 999999999,
    2**31 - 1, 2**31, 3141592653, 4294967294, 2**32 - 1, 2**32, 2**32 + 1,
    2**40 + 5, 10**15 + 7, 2**63 - 1, 2**64 - 1,
]
SHAPES = [(4, 8, 8), (4, 64, 64), (4, 96, 64), (4, 1, 1), (3, 5, 7)]

# (name, latent shape, seeds, subseeds, strength, resize (h, w), ensd, draws after first)
BATCH_CASES = [
    ("batch3", (4, 8, 8), [100, 101, 102], None, 0.0, (0, 0), 0, 3),
    ("batch3_64", (4, 64, 64), [5, 6, 7], None, 0.0, (0, 0), 0, 2),
    ("ensd31337", (4, 8, 8), [100, 101, 102], None, 0.0, (0, 0), 31337, 3),
    ("ensd1_big_seed", (4, 8, 8), [2**32 - 1], None, 0.0, (0, 0), 1, 3),
    ("variation_0.3", (4, 8, 8), [77, 77], [500, 501], 0.3, (0, 0), 0, 1),
    ("variation_0.75", (4, 16, 8), [77], [9], 0.75, (0, 0), 0, 1),
    ("variation_1.0", (4, 8, 8), [1], [2], 1.0, (0, 0), 0, 1),
    ("variation_0.01", (4, 64, 64), [1234], [4321], 0.01, (0, 0), 0, 1),
    ("variation_short_subseeds", (4, 8, 8), [10, 10, 10], [3], 0.5, (0, 0), 0, 1),
    ("variation_same_seed", (4, 8, 8), [8], [8], 0.5, (0, 0), 0, 1),
    ("variation_ensd", (4, 8, 8), [77, 77], [500, 501], 0.4, (0, 0), 31337, 2),
    ("resize_smaller", (4, 96, 64), [42], None, 0.0, (512, 512), 0, 1),
    ("resize_larger", (4, 64, 64), [42], None, 0.0, (768, 640), 0, 1),
    ("resize_mixed", (4, 64, 96), [42, 43], None, 0.0, (640, 512), 0, 1),
    ("resize_odd", (4, 13, 9), [3], None, 0.0, (64, 96), 0, 1),
    ("resize_same", (4, 8, 8), [3], None, 0.0, (64, 64), 0, 1),
    ("resize_one_axis_zero", (4, 8, 8), [3], None, 0.0, (0, 128), 0, 1),
    ("resize_variation_ensd", (4, 64, 64), [42], [24], 0.6, (512, 768), 31337, 2),
]


def digest(array) -> dict:
    import numpy as np

    values = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    return {
        "shape": list(values.shape),
        "sha256": hashlib.sha256(values.astype("<f4").tobytes()).hexdigest(),
        "head": [float(v) for v in values.reshape(-1)[:4]],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a1111", required=True, help="stable-diffusion-webui checkout (v1.10.x)")
    parser.add_argument("--commit", required=True, help="the checkout's commit hash, recorded in the file")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    ref = a1111_reference.load(args.a1111)
    rng = ref.module("rng")
    philox = ref.module("rng_philox")

    single = []
    for source in ("NV", "CPU"):
        ref.opts.randn_source = source
        for seed in SEEDS:
            for shape in SHAPES:
                if source == "NV":
                    # the generator's first three draws: offsets 0, 1, 2
                    generator = philox.Generator(seed)
                    draws = [generator.randn(shape) for _ in range(3)]
                else:
                    generator = rng.create_generator(seed)
                    draws = [rng.randn_without_seed(shape, generator=generator).numpy() for _ in range(3)]
                single.append({"source": source, "seed": seed, "draws": [digest(d) for d in draws]})

    batches = []
    for source in ("NV", "CPU"):
        ref.opts.randn_source = source
        for name, shape, seeds, subseeds, strength, (h, w), ensd, extra in BATCH_CASES:
            ref.opts.eta_noise_seed_delta = ensd
            image_rng = rng.ImageRNG(
                shape, seeds, subseeds=subseeds, subseed_strength=strength, seed_resize_from_h=h, seed_resize_from_w=w
            )
            draws = [image_rng.next().numpy() for _ in range(1 + extra)]
            batches.append(
                {
                    "name": name, "source": source, "shape": list(shape), "seeds": seeds, "subseeds": subseeds,
                    "subseed_strength": strength, "seed_resize_from": [h, w], "eta_noise_seed_delta": ensd,
                    "draws": [digest(d) for d in draws],
                }
            )
        ref.opts.eta_noise_seed_delta = 0

    local = []
    for source in ("NV", "CPU"):
        ref.opts.randn_source = source
        for seed in (0, 1, 31337, 2**32 - 1):
            local.append({"source": source, "seed": seed, "shape": [4, 8, 8],
                          "noise": digest(rng.randn_local(seed, (4, 8, 8)).numpy())})

    document = {
        "what": "A1111 noise: rng_philox.Generator / rng.create_generator draws, rng.ImageRNG.next() sequences, rng.randn_local",
        "repository": "https://github.com/AUTOMATIC1111/stable-diffusion-webui",
        "commit": args.commit,
        "files": ["modules/rng.py", "modules/rng_philox.py"],
        "single": single,
        "batches": batches,
        "randn_local": local,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    # one case per line: small, and diffs stay readable
    lines = [json.dumps({k: v for k, v in document.items() if not isinstance(v, list) or k == "files"})[:-1]]
    for key in ("single", "batches", "randn_local"):
        lines.append(f', "{key}": [')
        lines.append(",\n".join(json.dumps(case, separators=(",", ":")) for case in document[key]))
        lines.append("]")
    Path(args.out).write_text("\n".join(lines) + "}\n")
    print(f"wrote {args.out}: {len(single)} generators x 3 draws, {len(batches)} batch cases, {len(local)} randn_local")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
