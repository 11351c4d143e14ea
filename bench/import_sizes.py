"""Size of each real image vs its embedded metadata vs the .aigif it imports to.

    nice -n 10 python bench/import_sizes.py [--data DIR] [--markdown bench/RESULTS-import.md]

DIR defaults to $AIGIF_SHARED_DATA/aigc-images (or <repo>/../shared/data/aigc-images).
The headline figure is the median image/.aigif ratio over the imported images that are
not cropped (the sd-parsers fixtures were cut to 1x1 pixels: their "image" is nothing).
Single process on purpose: the numbers, not the speed, are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def default_dir() -> Path:
    base = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))
    return base / "aigc-images"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dir())
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = ap.parse_args(argv)

    import aigif
    from aigif.errors import AigifError
    from aigif.format import inspect
    from aigif.importers import import_image

    manifest = json.loads((args.data / "manifest.json").read_text())
    t0 = time.perf_counter()
    rows = []
    for entry in manifest["files"]:
        path = args.data / entry["file"]
        if not path.exists():
            continue
        size = path.stat().st_size
        cropped = entry.get("size") == [1, 1] or "cropped" in entry["file"]
        row = {"file": entry["file"], "image": size, "cropped": cropped, "tool": "", "metadata": 0, "aigif": None,
               "ratio": None, "unmapped": 0, "status": "", "ext": 0}
        try:
            r = import_image(path)
            data = aigif.encode(aigif.from_dict(r.syntax))
            costs, _ = inspect(data)
            row["ext"] = sum(c.framed_bytes for c in costs if c.name.startswith("EXTENSION"))
            bare = aigif.encode(aigif.from_dict(import_image(path, provenance=False).syntax))
            row["ratio_bare"] = size / len(bare)
            row.update(tool=r.tool, metadata=r.metadata_bytes, aigif=len(data), ratio=size / len(data),
                       unmapped=len(r.unmapped), status="partial" if r.unmapped else "imported")
        except AigifError as e:
            row["status"] = e.code
        rows.append(row)
    elapsed = time.perf_counter() - t0

    full = [r["ratio"] for r in rows if r["ratio"] and not r["cropped"]]
    bare = [r["ratio_bare"] for r in rows if r["ratio"] and not r["cropped"]]
    meta_ratio = [r["metadata"] / r["aigif"] for r in rows if r["aigif"]]
    lines = [
        "| file | tool | image B | metadata B | .aigif B | of which extensions B | image/.aigif | metadata/.aigif | unmapped | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = f"{r['ratio']:,.0f}" if r["ratio"] else ""
        mr = f"{r['metadata'] / r['aigif']:.1f}" if r["aigif"] else ""
        name = r["file"] + (" (cropped)" if r["cropped"] else "")
        lines.append(f"| {name} | {r['tool']} | {r['image']:,} | {r['metadata']:,} | {r['aigif'] or ''} | {r['ext'] if r['aigif'] else ''} | {ratio} | {mr} | "
                     f"{r['unmapped']} | {r['status']} |")
    summary = [
        f"images: {len(rows)}, imported: {sum(1 for r in rows if r['aigif'])} "
        f"(partial: {sum(1 for r in rows if r['status'] == 'partial')}), "
        f"without metadata: {sum(1 for r in rows if r['status'] == 'E_NO_METADATA')}",
        f"median image/.aigif over the {len(full)} full-size imported images: {statistics.median(full):,.0f} "
        f"(min {min(full):,.0f}, max {max(full):,.0f})" if full else "no full-size images",
        f"same without the `source` extension (`aigif import --no-provenance`): {statistics.median(bare):,.0f}" if bare else "",
        f"median metadata/.aigif (embedded text vs .aigif): {statistics.median(meta_ratio):.1f}" if meta_ratio else "",
        f"median .aigif size: {statistics.median([r['aigif'] for r in rows if r['aigif']]):.0f} B, "
        f"of which extension segments: {statistics.median([r['ext'] for r in rows if r['aigif']]):.0f} B",
        f"elapsed: {elapsed:.1f} s (single process)",
    ]
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {s}" for s in summary if s) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
