"""Group-mask coding (codec 17) on Kodak: the four acceptance points, version 2 beside
version 1 and plain NVTC, in one run.

For each image and Q: the built-in split into 4 groups (no user masks exist for Kodak),
coded as groupmask version 1 (every symbol of each box), as version 2 in several encoder
settings (margin M; band weight B = the ECVQ distortion weight of the group's pixels in the
8-px boundary band; outside weight O = that of the filled pixels outside the group), and as
plain nvtc:Q (the same fine-tune at the same lambda).
Reported per setting and Q:
  - BD-rate (PSNR) against nvtc over the Q points: the structure's cost (<= 5 %);
  - PSNR in the 8-px band along group boundaries (pixels within 8 px of another group,
    Chebyshev) against the interior (the rest), MSE pooled over the images (within 1 dB);
  - for every group: bytes a decoder of that group alone reads (shared header + mask +
    its stream) as a fraction of the payload, against its area fraction (<= area + 5 %);
  - subset decoding: every group decoded alone equals the full decode inside it and reads
    only the shared part and its stream (checked for two settings, counted);
  - the mask stream: zlib row differences (version 1) against the run coder.

  OMP_NUM_THREADS=1 nice -n 19 python bench/groupmask.py --qs 50,60,70 --images 12 \\
      --out /tmp/groupmask.json --md bench/RESULTS-groupmask.md
or in parts (one process per core), then the tables:
  python bench/groupmask.py --only 1,3,5 --jsonl /tmp/gm.jsonl &  python bench/groupmask.py --only 2,4,6 --jsonl /tmp/gm.jsonl
  python bench/groupmask.py --summarise --jsonl /tmp/gm.jsonl --images 6 --md bench/RESULTS-groupmask.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))
# (name, version, margin M, band weight B, outside weight O, check subset decoding[, other
# encode keywords]); the reference encoder writes the last (codecs/groupmask.py defaults)
PP = {"fill": "push-pull"}  # the fill of every encoder before the mirror
SETTINGS = [("v1", 1, 0, 1.0, 1.0, False), ("v2 M=0", 2, 0, 1.0, 1.0, False, PP), ("v2 M=4", 2, 4, 1.0, 1.0, True, PP),
            ("v2 M=8", 2, 8, 1.0, 1.0, False, PP), ("v2 M=16", 2, 16, 1.0, 1.0, False, PP),
            ("v2 M=4 O=.25", 2, 4, 1.0, 0.25, False, PP), ("v2 M=4 O=.25 B=2", 2, 4, 2.0, 0.25, True, PP),
            ("v2 M=4 O=.25 B=4", 2, 4, 4.0, 0.25, False, PP),
            # version 3: version 2's streams less the NVTC fields they share
            ("v3 M=4 O=.25 B=3", 3, 4, 3.0, 0.25, False, PP), ("v3 M=4 O=.25 B=2", 3, 4, 2.0, 0.25, True, PP),
            ("v3 M=4 O=.25 B=4", 3, 4, 4.0, 0.25, False, PP), ("v3 M=4 O=.25 B=6", 3, 4, 6.0, 0.25, False, PP),
            ("v3 M=0 O=.25 B=2", 3, 0, 2.0, 0.25, False, PP),
            ("v3 M=4 O=.25 B=2 cap", 3, 4, 2.0, 0.25, False, {**PP, "rate_cap": 0.05}),
            ("v3 M=4 O=.25 B=4 mirror cap", 3, 4, 4.0, 0.25, False, {"fill": "mirror", "rate_cap": 0.05}),
            ("v3 M=4 O=.25 B=4 mirror", 3, 4, 4.0, 0.25, True, {"fill": "mirror"}),
            # the reference encoder's default: B and the fill by each group's shape (B = 4 and
            # the mirror for a group of whole 64-px blocks, else B = 2 and push-pull)
            ("v3 default", 3, 4, None, 0.25, True)]


def mse(a, b, sel):
    d = a[sel].astype(np.float64) - b[sel].astype(np.float64)
    return float((d**2).mean())


def db(m: float) -> float:
    return round(10 * math.log10(255**2 / m), 3)


def bits_per_pixel(trace: list, q: int, size: tuple[int, int]) -> np.ndarray:
    """(H, W): plain NVTC's ideal code length of every symbol spread evenly over its cell -
    where in the image a codec without groups spends its bits (the content's share)."""
    from aigif_codecs.nvtc import codec as nvtc_codec
    from aigif_codecs.nvtc import entropy
    from aigif_codecs.nvtc import parse_rate

    ld = nvtc_codec.load(parse_rate(str(q))["model"])
    cfg = ld.model.cfg
    w, h = size
    Wp, Hp = -(-w // cfg.pad_multiple) * cfg.pad_multiple, -(-h // cfg.pad_multiple) * cfg.pad_multiple
    total = np.zeros((Hp, Wp))
    b = cfg.block
    for (s, l), sym, rows, mix, table in trace:
        lm = entropy.LayerModel(table, rows, b * b, *entropy.unpack_mix(mix))
        bits = np.empty(len(sym))
        for a, e in lm.symbol_ranges():
            f = lm.rows_for(a, e).astype(np.float64)
            bits[a:e] = -np.log2(f[np.arange(e - a), sym[a:e]] / f.sum(1))
            lm.update(a, e, sym[a:e])
        d = cfg.downscale[s]
        gh, gw = Hp // d, Wp // d
        grid = bits.reshape(gh // b, gw // b, b, b).transpose(0, 2, 1, 3).reshape(gh, gw)
        total += np.kron(grid, np.ones((d, d))) / (d * d)
    return total[:h, :w]


def measure_image(i: int, qs: list[int], chosen: list, n_groups: int, block: int = 16) -> list[dict]:
    """One image: a record per (Q, setting) with the raw sums the tables are built from."""
    import aigif_codecs
    from aigif_codecs import groupmask, maskcoder
    from aigif_codecs.nvtc import codec as nvtc_codec
    from aigif_codecs.nvtc import parse_rate
    from aigif_codecs.segment import builtin_groups

    img = Image.open(DATA / "kodak" / f"kodim{i:02d}.png").convert("RGB")
    ref = np.asarray(img)
    labels = builtin_groups(img, n_groups, block)
    index = np.searchsorted(np.unique(labels), labels).astype(np.uint8)
    band = groupmask.boundary_band(index)
    full = np.ones(band.shape, bool)
    recs = [{"image": i, "kind": "mask", "zlib": len(groupmask._zlib_rows(index)),
             "runs": len(maskcoder.encode(index, int(index.max()) + 1)), "band_fraction": float(band.mean())}]
    for q in qs:
        trace: list = []
        nv = nvtc_codec.encode(img, **parse_rate(str(q)), trace=trace)  # what aigif_codecs.encode("nvtc:Q") writes
        out = {"nvtc": (nv, np.asarray(aigif_codecs.decode(16, nv, max_pixels=1 << 26)))}
        share = np.bincount(index.reshape(-1), weights=bits_per_pixel(trace, q, img.size).reshape(-1))
        share = share / share.sum()
        check = {}
        for name, version, margin, bw, ow, subset, *extra in chosen:
            data = groupmask.encode(img, labels, str(q), version=version, margin=margin, band_weight=bw,
                                    outside_weight=ow, **(extra[0] if extra else {}))
            out[name] = (data, np.asarray(groupmask.decode(data, max_pixels=1 << 26)[0]))
            check[name] = subset
        for name, (data, im) in out.items():
            r = {"image": i, "kind": "coded", "q": q, "setting": name, "bytes": len(data), "px": int(index.size),
                 "psnr": db(mse(im, ref, full)), "band_mse": mse(im, ref, band), "int_mse": mse(im, ref, ~band),
                 "read_area": [], "subset_ok": 0, "subset_n": 0}
            if name != "nvtc":
                p = groupmask.parse(data, max_pixels=1 << 26)
                counts = np.bincount(p.index.reshape(-1), minlength=len(p.entries))
                for gi, e in enumerate(p.entries):
                    r["read_area"].append([(p.header_bytes + e[5]) / len(data), float(counts[gi] / p.index.size),
                                           float(share[gi])])
                    if check[name]:  # decoding the group alone (the other settings use the same decoder)
                        sub, read = groupmask.decode(data, max_pixels=1 << 26, groups=[e[0]])
                        inside = p.index == gi
                        r["subset_n"] += 1
                        r["subset_ok"] += int(read == p.header_bytes + e[5]
                                              and np.array_equal(np.asarray(sub)[..., :3][inside], im[inside]))
            recs.append(r)
    return recs


def summarise(recs: list[dict], images: list[int], qs: list[int], n_groups: int, cpu_s: float) -> dict:
    from kodak import bd_rate

    n_images = len(images)
    recs = [r for r in recs if r["image"] in images]
    names = list(dict.fromkeys(r["setting"] for r in recs if r["kind"] == "coded"))
    rows = {}
    for name in names:
        for q in qs:
            rs = [r for r in recs if r["kind"] == "coded" and r["setting"] == name and r["q"] == q]
            assert len(rs) == n_images, f"{name} Q{q}: {len(rs)} of {n_images} images"
            ro = np.array([x for r in rs for x in r["read_area"]]).reshape(-1, 3)
            excess = ro[:, 0] - ro[:, 1]
            over_content = ro[:, 0] - ro[:, 2]  # read fraction against the group's share of plain nvtc's bits
            band_db = db(float(np.mean([r["band_mse"] for r in rs])))
            int_db = db(float(np.mean([r["int_mse"] for r in rs])))
            sn = sum(r["subset_n"] for r in rs)
            rows.setdefault(name, []).append({
                "q": q, "bpp": round(8 * sum(r["bytes"] for r in rs) / sum(r["px"] for r in rs), 4),
                "psnr": round(float(np.mean([r["psnr"] for r in rs])), 3),
                "band_psnr": band_db, "interior_psnr": int_db, "band_gap_db": round(int_db - band_db, 3),
                "groups": len(ro), "read_minus_area_max": round(float(excess.max()), 4) if len(ro) else None,
                "read_minus_area_mean": round(float(excess.mean()), 4) if len(ro) else None,
                "groups_over_area_plus_5pct": int((excess > 0.05).sum()),
                "read_minus_content_max": round(float(over_content.max()), 4) if len(ro) else None,
                "content_minus_area_max": round(float((ro[:, 2] - ro[:, 1]).max()), 4) if len(ro) else None,
                "groups_content_over_area_plus_5pct": int((ro[:, 2] - ro[:, 1] > 0.05).sum()),
                "subset_exact": f"{sum(r['subset_ok'] for r in rs)}/{sn}" if sn else None})
    nvr = rows["nvtc"]
    bd = {n: bd_rate([(x["bpp"], x["psnr"]) for x in nvr], [(x["bpp"], x["psnr"]) for x in rows[n]])
          for n in names if n != "nvtc"}
    masks = [r for r in recs if r["kind"] == "mask"]
    return {"rows": rows, "bd_rate_vs_nvtc_psnr": {n: None if v is None else round(v, 2) for n, v in bd.items()},
            "mask_bytes": {"zlib": sum(r["zlib"] for r in masks), "runs": sum(r["runs"] for r in masks),
                           "images": len(masks)},
            "band_fraction": round(float(np.mean([r["band_fraction"] for r in masks])), 4),
            "cpu_s": round(cpu_s, 1), "images": images, "builtin_groups": n_groups, "qs": qs}


def main() -> int:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--qs", default="50,60,70")
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--block", type=int, default=64, help="the built-in split's square (64: on NVTC's coarsest blocks, the default; 16 and 4: before)")
    ap.add_argument("--images", type=int, default=12, help="tables over Kodak images 1..N")
    ap.add_argument("--only", help="measure only these images (e.g. 1,3,5), appending to --jsonl, no tables; "
                    "with --summarise: table these images")
    ap.add_argument("--jsonl", type=Path, help="per-image records: appended by a measuring run, read by --summarise")
    ap.add_argument("--summarise", action="store_true", help="tables from --jsonl (all files given) only")
    ap.add_argument("--settings", default=",".join(s[0] for s in SETTINGS))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--md", type=Path, help="write the tables as Markdown here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    qs = [int(q) for q in args.qs.split(",")]
    chosen = [s for s in SETTINGS if s[0] in args.settings.split(",")]
    t0 = time.process_time()
    recs: list[dict] = []
    images = [int(v) for v in args.only.split(",")] if args.only else list(range(1, args.images + 1))
    if args.summarise:
        for line in args.jsonl.read_text().splitlines():
            recs.append(json.loads(line))
        cpu = sum(r.get("cpu_s", 0) for r in recs if r["kind"] == "mask" and r["image"] in images)
    else:
        for i in images:
            t = time.process_time()
            got = measure_image(i, qs, chosen, args.groups, args.block)
            got[0]["cpu_s"] = round(time.process_time() - t, 1)
            recs += got
            if args.jsonl:
                with args.jsonl.open("a") as f:
                    f.write("".join(json.dumps(r) + "\n" for r in got))
            print(i, round(time.process_time() - t0), flush=True)
        cpu = time.process_time() - t0
        if args.only:
            return 0
    out = summarise(recs, images, qs, args.groups, cpu)
    print(json.dumps(out, indent=1))
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    if args.md:
        args.md.write_text(markdown(out, args) + "\n")
    return 0


def markdown(out: dict, args) -> str:
    imgs = out["images"]
    n = len(imgs)
    which = f"1-{n}" if imgs == list(range(1, n + 1)) else ", ".join(map(str, imgs))
    lines = [
        "# Group-mask coding (codec 17): version 2 against version 1 and plain NVTC",
        "",
        f"`OMP_NUM_THREADS=1 nice -n 19 python bench/groupmask.py --qs {args.qs} --images {n} --md bench/RESULTS-groupmask.md`"
        f" (here measured in parts, one process per core, with `--only LIST --jsonl F` and tabled with "
        f"`--summarise --jsonl F --only LIST`; "
        f"Kodak images {which}, built-in split into {args.groups} groups, {out['cpu_s']} s CPU; "
        f"the 8-px band holds {100 * out['band_fraction']:.1f} % of the pixels). "
        "M = margin in pixels (version 2 codes the NVTC symbols whose cell dilated by M meets the group); "
        "B = ECVQ distortion weight of the group's pixels in the 8-px boundary band, O = that of the filled pixels "
        "outside the group (encoder choices: the decoder never sees them). "
        "Band = pixels within 8 px (Chebyshev) of another group; band and interior PSNR pool the MSE over the images.",
        "",
        "## Acceptance summary",
        "",
        "| setting | BD-rate vs nvtc (PSNR), <= 5 % | band gap (interior - band, dB) per Q, <= 1 dB | "
        "groups over area + 5 %, per Q | worst read - area, points | subset decode exact |",
        "|---|---:|---|---|---:|---|",
    ]
    nv = out["rows"]["nvtc"]
    lines.append("| nvtc (no groups) | 0 | " + " / ".join(f"{r['band_gap_db']:.2f}" for r in nv) + " | - | - | - |")
    for name, rs in out["rows"].items():
        if name == "nvtc":
            continue
        bd = out["bd_rate_vs_nvtc_psnr"][name]
        lines.append(f"| {name} | {'n/a' if bd is None else f'{bd:+.1f} %'} | "
                     + " / ".join(f"{r['band_gap_db']:.2f}" for r in rs) + " | "
                     + " / ".join(f"{r['groups_over_area_plus_5pct']} of {r['groups']}" for r in rs) + " | "
                     + f"{100 * max(r['read_minus_area_max'] for r in rs):+.1f} | "
                     + ", ".join(r["subset_exact"] or "-" for r in rs) + " |")
    lines += ["", "## Per Q", "",
              "Content share = the group's share of plain nvtc's bits (each symbol's ideal code length spread over "
              "its cell): what a group would read with no structure cost at all. Worst (content share - area) says "
              "how far content alone puts a group past its area.", "",
              "| setting | Q | bpp | PSNR | band PSNR | interior PSNR | mean read - area, points | "
              "worst read - content share, points | worst content share - area, points (groups over + 5) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rs in out["rows"].items():
        for r in rs:
            mean = "-" if r["read_minus_area_mean"] is None else f"{100 * r['read_minus_area_mean']:+.2f}"
            rc = "-" if r["read_minus_content_max"] is None else f"{100 * r['read_minus_content_max']:+.1f}"
            ca = ("-" if r["content_minus_area_max"] is None else
                  f"{100 * r['content_minus_area_max']:+.1f} ({r['groups_content_over_area_plus_5pct']})")
            lines.append(f"| {name} | {r['q']} | {r['bpp']:.4f} | {r['psnr']:.3f} | {r['band_psnr']:.3f} | "
                         f"{r['interior_psnr']:.3f} | {mean} | {rc} | {ca} |")
    m = out["mask_bytes"]
    lines += ["", "## Mask stream", "",
              f"Built-in masks of the {m['images']} images: zlib row differences (version 1, method 0) {m['zlib']} B, "
              f"run coder (method 1) {m['runs']} B ({100 * (m['runs'] / m['zlib'] - 1):+.1f} %)."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
