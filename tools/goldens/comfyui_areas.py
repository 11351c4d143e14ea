"""Make tests/goldens/comfyui/areas.json by running ComfyUI's own nodes on the area graphs of
tests/diffusion/engines/comfyui/test_comfyui_areas.py with the embedded tiny-sd.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_areas.py --comfyui DIR -o OUT.json

ComfyUI's own ConditioningSetArea / ConditioningSetAreaPercentage / ConditioningSetAreaStrength,
ConditioningCombine / ConditioningConcat, CLIPTextEncode and KSampler run (so comfy.samplers'
process_conds, create_cond_with_same_area_if_none, get_area_and_mult and calc_cond_batch do
the area work), through the driver and stand-ins of comfyui_driver.py.  Per graph: the final
latent and the SaveImage pixels, and the pixels' sha256 of the same graph with the area
prompts left out (positive = the global prompt, negative = the negative prompt) to show
that the areas change the image.  No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools/goldens"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    from comfyui_driver import Comfy, latent_of
    comfy = Comfy(args.comfyui)
    import comfyui_goldens as S
    import numpy as np
    import test_comfyui_areas as T

    result = {}
    for name, graph in T.GRAPHS.items():
        values = comfy.run(copy.deepcopy(graph))
        latents = [S.summarise_latent(latent_of(values[n][i]).float()) for n, i in T.LATENT_OUTPUTS[name]]
        plain = copy.deepcopy(graph)
        plain["5"]["inputs"].update(positive=["2", 0], negative=["3", 0])
        without = comfy.run(plain)["9"][0]
        result[name] = {"graph": graph, "latents": latents, "pixels": S.summarise_pixels(values["9"][0]),
                        "without_areas_pixels_sha256": S.summarise_pixels(without)["sha256"]}
        print(name, [l["sha256"][:12] for l in latents], result[name]["pixels"]["sha256"][:12], flush=True)
    out = {"comfyui_commit": S.COMFYUI_COMMIT, "torch": comfy.torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(comfy.torch),
           "area_scale": comfy_area_scale(), "graphs": result}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(result)} graphs -> {args.out}")


def comfy_area_scale() -> int:
    from comfyui_driver import AREA_SCALE
    return AREA_SCALE


if __name__ == "__main__":
    main()
