"""Make tests/goldens/comfyui/validation.json: does ComfyUI accept the graphs `aigif export
--format comfyui` writes?  Each case is a ComfyUI graph (the golden graphs of the engine
tests, and the shared ComfyUI images the engine can regenerate) put in a PNG, `aigif
import`ed, then exported with aigif.exporters.to_comfyui; ComfyUI's own
execution.validate_prompt (the check POST /prompt runs before queueing: every class known,
every required input present, links to existing outputs of the right type, widget values
in range and combo values among the options) judges the exported graph.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_validate.py --comfyui DIR -o OUT.json [--shared DIR]

ComfyUI runs unmodified ("--cpu") with its built-in extra nodes loaded
(nodes.init_builtin_extra_nodes).  The only set-up: empty files named as the graphs'
checkpoints, LoRAs and VAEs in temporary model folders (folder_paths.add_model_folder_path),
because validation checks that combo values such as ckpt_name are files ComfyUI can list.
Recorded per case: the sha256 of the exported graph (json.dumps(sort_keys=True)), ComfyUI's
verdict, and its error messages.  No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))
sys.path.insert(0, str(REPO))



def exported_cases(shared: Path | None) -> dict[str, dict]:
    """case name -> the graph aigif exports after importing it (the same function the test uses)."""
    import comfyui_export_cases as cases

    return cases.exported_graphs(shared)


def graph_sha(graph: dict) -> str:
    return hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared/data/aigc-images")
    args = ap.parse_args()
    graphs = exported_cases(args.shared if args.shared.is_dir() else None)

    sys.argv = [sys.argv[0], "--cpu"]
    sys.path.insert(0, args.comfyui)
    import comfy.options
    comfy.options.enable_args_parsing()
    import execution
    import folder_paths
    import nodes

    asyncio.run(nodes.init_builtin_extra_nodes())
    roots = {kind: Path(tempfile.mkdtemp(prefix=f"comfy-{kind}-")) for kind in ("checkpoints", "loras", "vae")}
    for kind, root in roots.items():
        folder_paths.add_model_folder_path(kind, str(root))
    for graph in graphs.values():
        for node in graph.values():
            for key, kind in (("ckpt_name", "checkpoints"), ("lora_name", "loras"), ("vae_name", "vae")):
                value = node["inputs"].get(key)
                if isinstance(value, str):
                    (roots[kind] / value).parent.mkdir(parents=True, exist_ok=True)
                    (roots[kind] / value).touch()
    out = {"comfyui_commit": "637221995f7424a561bd825de3e61ea117dfe1e3", "cases": {}}
    for name, graph in graphs.items():
        valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt("aigif", json.loads(json.dumps(graph)), None))
        messages = [error.get("message", "")] if not valid and isinstance(error, dict) else []
        for nid, e in (node_errors or {}).items():
            messages += [f"{nid} {e.get('class_type')}: {x.get('message')} {x.get('details', '')}" for x in e.get("errors", [])]
        out["cases"][name] = {"sha256": graph_sha(graph), "valid": bool(valid), "outputs": sorted(map(str, outputs)),
                              "errors": messages}
        print(name, "valid" if valid else "INVALID", messages[:3], flush=True)
    # negative controls: the validator is live (a graph with a bad combo value, one with a
    # required input missing, one linking to a missing node)
    first = json.loads(json.dumps(next(iter(graphs.values()))))
    controls = {}
    for label, mutate in (("bad sampler_name", lambda g, n: g[n]["inputs"].__setitem__("sampler_name", "no-such")),
                          ("missing steps", lambda g, n: g[n]["inputs"].pop("steps")),
                          ("dangling link", lambda g, n: g[n]["inputs"].__setitem__("model", ["999", 0]))):
        g = json.loads(json.dumps(first))
        node = next(k for k, v in g.items() if v["class_type"] == "KSampler")
        mutate(g, node)
        valid, *_ = asyncio.run(execution.validate_prompt("aigif", g, None))
        controls[label] = bool(valid)
    out["negative_controls"] = controls
    print("negative controls", controls)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(graphs)} cases -> {args.out}")


if __name__ == "__main__":
    main()
