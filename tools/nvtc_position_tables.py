"""Measure and export NVTC's per-block-position static tables (bitstream version 4).

The shipped tables of a keyed layer (tables.S.L.freq) have one row per context level: the
16 block positions, each with its own codebook, share the 32-64 levels, so the adaptive
counts of version 2 spend the first part of every image learning what each position does
(BENCHMARKS.md, NVTC entropy model).  Version 4 codes a keyed layer with row p * R + level
of a (P * R, K) table instead: that, measured once on the training photos, is what the
counts would otherwise learn per image, and it does not depend on the image.

For each rate point: every training photo (train-images, never Kodak; the JPEG sets
downscaled x2: tools/train_nvtc.py's load_photo) is coded at each Q of --qs with the
version-3 encoder; the symbols of each keyed layer are counted under (position, level);
the table is the counts plus ALPHA times the level's own row (as a probability), each row
quantised to 2**16 like every NVTC table (nvtc/export.quantize_pmf).  Counts are cached per
photo in --runs, so an interrupted run resumes; the CPU time is recorded in the file.

  nice -n 10 python tools/nvtc_position_tables.py --rate 4 &  nice -n 10 python tools/nvtc_position_tables.py --rate 5
  # then put the printed sha256 of each file in codecs/nvtc/zoo.py POSITIONS, and
  python tools/nvtc_position_tables.py --conformance     # spec/reference/nvtc-v4-48x40.*, groupmask-v3-48x40.* (v50, v51)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from codec_training import ensure_codecs_importable  # noqa: E402
from train_nvtc import load_photo, photo_files  # noqa: E402  (the photos NVTC trained on, read the same way)

ensure_codecs_importable()
import torch  # noqa: E402

from aigif_codecs.learned_weights import write_weights  # noqa: E402
from aigif_codecs.nvtc import codec as nv  # noqa: E402
from aigif_codecs.nvtc import parse_rate  # noqa: E402
from aigif_codecs.nvtc.export import FREQ_BITS, quantize_pmf  # noqa: E402
from aigif_codecs.nvtc.zoo import WEIGHTS, WEIGHTS_DIR  # noqa: E402

RUNS = Path(os.environ.get("NVTC_RUNS", "/work/runs/nvtc-positions"))
# the Qs each rate point serves (nvtc.Q_BANDS: 4 below 70, 5 from 70), a few of each
DEFAULT_QS = {4: (25, 45, 65), 5: (75, 90)}
# weight of the level's own row against the counts: 30 / 100 / 300 / 1000 gave -4.66 / -4.62 /
# -4.51 / -4.23 % on Kodak 1-12 at Q 60 (ideal code lengths, 300 photos; /tmp estimate)
ALPHA = 30.0
FORMAT = "aigif-nvtc-positions"


def count(rate: int, qs: tuple[int, ...], files: list[Path], run: Path) -> tuple[dict, dict]:
    """(counts per keyed layer (P * R, K) int64, meta {photos, cpu_s}), resumable."""
    ld = nv.load(rate)
    P = ld.model.cfg.block ** 2
    state_file = run / "state.json"
    counts_file = run / "counts.npz"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"done": 0, "cpu_s": 0.0, "qs": list(qs)}
    if state["qs"] != list(qs):
        raise SystemExit(f"{run} holds counts for Qs {state['qs']}; remove it or pass the same --qs")
    counts = ({k: v for k, v in np.load(counts_file).items()} if counts_file.exists() else
              {f"{s}.{l}": np.zeros((P * ld.freq[(s, l)].shape[0], ld.freq[(s, l)].shape[1]), np.int64)
               for s, l in ld.key_level})
    t0 = time.process_time()
    for n, f in enumerate(files[state["done"]:], start=state["done"] + 1):
        im = load_photo(f)
        for q in qs:
            trace: list = []
            nv.encode(im, **parse_rate(str(q)), trace=trace, version=3)
            for (s, l), sym, rows, _, _ in trace:
                if (s, l) in ld.key_level:
                    pl = nv.position_rows(rows, P, ld.freq[(s, l)].shape[0])
                    np.add.at(counts[f"{s}.{l}"], (pl, sym), 1)
        if n % 20 == 0 or n == len(files):
            state.update(done=n, cpu_s=state["cpu_s"] + time.process_time() - t0)
            t0 = time.process_time()
            tmp = run / "counts.tmp.npz"
            np.savez(tmp, **counts)
            os.replace(tmp, counts_file)
            state_file.write_text(json.dumps(state))
            print(f"rate {rate}: {n}/{len(files)} photos, {state['cpu_s']:.0f} s CPU", flush=True)
    return counts, state


def tables(rate: int, counts: dict) -> dict[str, torch.Tensor]:
    ld = nv.load(rate)
    P = ld.model.cfg.block ** 2
    out = {}
    for s, l in ld.key_level:
        level_rows = ld.freq[(s, l)] / ld.freq[(s, l)].sum(1, keepdims=True)
        pmf = counts[f"{s}.{l}"] + ALPHA * np.tile(level_rows, (P, 1))
        out[f"tables.{s}.{l}.freq_pos"] = torch.from_numpy(quantize_pmf(pmf).astype(np.uint16))
    return out


def conformance() -> None:
    """The version-4 payload of spec vector v50 (written once: an existing one is kept), and
    the digests of its symbols and pixels that tests/codecs/test_nvtc_v4.py checks; and v51's."""
    import hashlib

    sys.path.insert(0, str(REPO / "tests"))
    from samples import perturbed_image, smooth_image

    _groupmask_conformance()
    base = REPO / "spec" / "reference" / "nvtc-v4-48x40"
    if base.with_suffix(".bin").exists():
        print(f"{base}.bin exists: kept")
        return
    data = nv.encode(perturbed_image(smooth_image(48, 40, seed=21), seed=22), 4, q=60)
    trace: list = []
    img = nv.decode(data, max_pixels=1 << 30, trace=trace)
    h = hashlib.sha256()
    for _, sym in trace:
        h.update(sym.astype("<i4").tobytes())
    hd = nv.parse_header(data)
    base.with_suffix(".bin").write_bytes(data)
    base.with_suffix(".json").write_text(json.dumps({
        "payload": base.name + ".bin", "codec": 16,
        "spec": "tools/nvtc_position_tables.py --conformance: samples.perturbed_image(smooth_image(48, 40, seed=21), "
                "seed=22) coded at rate point 4, Q 60: version 4, the keyed layers under the position tables of "
                "spec/codecs.md §4.3",
        "version": hd.version, "rate_point": hd.model, "q": hd.q, "layers_coded": hd.n_coded,
        "adaptation": list(hd.mixes), "symbols": sum(len(s) for _, s in trace), "symbols_sha256": h.hexdigest(),
        "symbols_note": "sha256 of every decoded codeword index in coding order, as int32 little-endian",
        "pixels_sha256": hashlib.sha256(np.asarray(img).tobytes()).hexdigest(),
        "pixels_note": "sha256 of the decoded 48x40 RGB pixels, row-major, 3 bytes per pixel: exact on every "
                       "conforming decoder"}, indent=1) + "\n")
    print(f"{base}.bin: {len(data)} bytes")


def _groupmask_conformance() -> None:
    """Vector v51's payload: groupmask version 3 (its groups' streams version 4), written once."""
    import hashlib

    from aigif_codecs import groupmask
    from samples import perturbed_image, smooth_image

    base = REPO / "spec" / "reference" / "groupmask-v3-48x40"
    if base.with_suffix(".bin").exists():
        print(f"{base}.bin exists: kept")
        return
    im = perturbed_image(smooth_image(48, 40, seed=23), seed=24)
    y, x = np.mgrid[0:40, 0:48]
    labels = np.where((x - 18) ** 2 + (y - 20) ** 2 < 12 ** 2, 5, 0).astype(np.uint8)
    data = groupmask.encode(im, labels, "60")
    full = groupmask.decode(data, max_pixels=1 << 30)[0]
    sub = groupmask.decode(data, max_pixels=1 << 30, groups=[5])[0]
    p = groupmask.parse(data, max_pixels=1 << 30)
    base.with_suffix(".bin").write_bytes(data)
    base.with_suffix(".json").write_text(json.dumps({
        "payload": base.name + ".bin", "codec": 17,
        "spec": "tools/nvtc_position_tables.py --conformance: samples.perturbed_image(smooth_image(48, 40, seed=23), "
                "seed=24) with group 5 = the disc (x - 18)^2 + (y - 20)^2 < 144 and group 0 the rest, coded as "
                "groupmask:60: version 3, each group's stream NVTC version 4 region-coded (spec/codecs.md §6)",
        "version": p.version, "margin": p.margin, "mask_method": p.method, "groups": p.labels(),
        "stream_bytes": [e[5] for e in p.entries], "shared_bytes": p.header_bytes,
        "pixels_sha256": hashlib.sha256(np.asarray(full).tobytes()).hexdigest(),
        "group_5_rgba_sha256": hashlib.sha256(np.asarray(sub).tobytes()).hexdigest(),
        "pixels_note": "sha256 of the decoded 48x40 RGB pixels (row-major, 3 bytes per pixel), and of the RGBA "
                       "image of group 5 decoded alone (alpha 0 outside it): exact on every conforming decoder"},
        indent=1) + "\n")
    print(f"{base}.bin: {len(data)} bytes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conformance", action="store_true", help="write vector v50's payload (after the zoo entries)")
    ap.add_argument("--rate", type=int, choices=sorted(DEFAULT_QS))
    ap.add_argument("--qs", help="comma-separated Qs to code the photos at (default: the rate point's band)")
    ap.add_argument("--limit", type=int, help="only the first N photos (a quick check: written into --runs, not shipped)")
    ap.add_argument("--runs", type=Path, default=RUNS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.conformance:
        conformance()
        return 0
    if args.rate is None:
        ap.error("--rate is required")
    qs = tuple(int(v) for v in args.qs.split(",")) if args.qs else DEFAULT_QS[args.rate]
    files = photo_files()[: args.limit]
    run = args.runs / f"rate{args.rate}{'-limit' + str(args.limit) if args.limit else ''}"
    run.mkdir(parents=True, exist_ok=True)
    counts, state = count(args.rate, qs, files, run)
    weights_sha = WEIGHTS[args.rate][1]
    meta = {"format": FORMAT, "format_version": "1", "weights_sha256": weights_sha, "rate_point": str(args.rate),
            "freq_bits": str(FREQ_BITS), "alpha": repr(ALPHA), "qs": json.dumps(list(qs)),
            "photos": str(len(files)), "cpu_s": str(round(state["cpu_s"]))}
    # a --limit check never replaces the shipped file
    path = (run if args.limit else WEIGHTS_DIR) / f"nvtc-{args.rate}-pos.safetensors"
    digest = write_weights(path, tables(args.rate, counts), meta)
    print(f"{path} sha256 {digest} ({len(files)} photos x Q {qs}, {state['cpu_s']:.0f} s CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
