"""Which real ComfyUI images the ComfyUI engine can regenerate (given their weights), and
what the others refuse, by name; plus the mean .aigif size of their imports.

    python bench/comfyui_regenerable.py [--data DIR] [--markdown OUT.md]

Each image of the shared aigc-images set is imported as `aigif import` does; those whose
syntax has comfyui semantics are classified without loading any weights:
- refused: the node types (or extensions) the engine cannot honour, as unpack would name them;
- regenerable: every node honoured, and every checkpoint the graph loads is of a family the
  engine runs (sd1, sdxl, sdxl-refiner), by its registry entry, or — for a checkpoint the
  registry does not know — by the family its name says (SDXL / XL in the name), reported
  as "given its weights" (a user registers the file and it runs);
- unknown family: a checkpoint neither the registry nor its name places.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def default_dir() -> Path:
    base = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))
    return base / "aigc-images"


def name_family(name: str) -> str | None:
    """A checkpoint file name's own claim, for names the registry does not know."""
    if re.search(r"refiner", name, re.I):
        return "sdxl-refiner"
    if re.search(r"sdxl|[_\-]xl[_\-v]|illustrious|pony", name, re.I):
        return "sdxl"
    if re.search(r"sd[_\-]?1\.?5|v1-5|sd15", name, re.I):
        return "sd1"
    return None


def classify(syntax) -> dict:
    from aigif import comfyui_graph
    from aigif.diffusion.engines.comfyui.from_syntax import FAMILIES, refused
    from aigif.registry import get_registry

    problems = refused(syntax)
    if problems:
        return {"result": "refused", "why": problems}
    registry = get_registry()
    model = syntax.model
    if isinstance(model, int):  # a registry ID: its entry's name
        entry = registry.find_model(model)
        model = entry.name if entry is not None else str(model)
    graph = syntax.extensions.get("comfyui_graph")
    names = {model}
    if graph:
        for node in graph:
            ckpt = (node.get("inputs") or {}).get("ckpt_name")
            if isinstance(ckpt, str):
                names.add(ckpt)
    checkpoints = {}
    for name in sorted(names):
        entry = registry.find_model(name) or registry.find_model(Path(name).stem)
        if entry is not None:
            checkpoints[name] = (entry.family, "registry")
        else:
            checkpoints[name] = (name_family(name), "name")
    families = {f for f, _ in checkpoints.values()}
    if None in families:
        return {"result": "unknown family", "why": checkpoints}
    if not families <= FAMILIES:
        return {"result": "refused", "why": [f"model family {f}" for f in sorted(families - FAMILIES)]}
    given = [n for n, (_, how) in checkpoints.items() if how == "name"]
    return {"result": "regenerable", "why": checkpoints, "needs_registering": given,
            "graph": bool(graph), "plain": comfyui_graph is not None and not graph}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dir())
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    import aigif
    from aigif.importers import import_image

    manifest = json.loads((args.data / "manifest.json").read_text())
    rows, sizes = [], []
    for item in manifest["files"]:
        path = args.data / item["file"]
        if not path.exists():
            continue
        try:
            r = import_image(path)
        except aigif.AigifError:
            continue
        syntax = aigif.from_dict(r.syntax)
        if (syntax.extensions.get("semantics") or {}).get("engine") != "comfyui":
            continue
        sizes.append(len(aigif.encode(syntax)))
        rows.append((item["file"], classify(syntax), sizes[-1]))
    lines = ["| file | .aigif B | result | detail |", "|---|---:|---|---|"]
    for file, c, size in rows:
        if c["result"] == "regenerable":
            detail = ", ".join(f"{n} ({f}{', by name: register its weights' if how == 'name' else ''})"
                               for n, (f, how) in c["why"].items())
        elif c["result"] == "refused":
            detail = "; ".join(c["why"])
        else:
            detail = ", ".join(n for n, (f, _) in c["why"].items() if f is None)
        lines.append(f"| {file} | {size} | {c['result']} | {detail} |")
    count = sum(1 for _, c, _ in rows if c["result"] == "regenerable")
    lines += ["", f"- comfyui-semantics imports: {len(rows)}; regenerable given their weights: {count}; "
              f"refused naming what they use: {sum(1 for _, c, _ in rows if c['result'] == 'refused')}; "
              f"unknown family: {sum(1 for _, c, _ in rows if c['result'] == 'unknown family')}",
              f"- mean .aigif size of these imports: {sum(sizes) / max(1, len(sizes)):.1f} B"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
