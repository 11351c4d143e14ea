"""Make tests/goldens/comfyui/model_sampling.json by running ComfyUI's own ModelSamplingDiscrete
node (comfy_extras/nodes_model_advanced.py) and samplers on tiny-sd.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_model_sampling.py --comfyui DIR -o OUT.json

- `samplings`: for each (sampling, zsnr) of SAMPLING_CASES in
  tests/diffusion/engines/comfyui/test_comfyui_model_sampling.py, the object
  `ModelSamplingDiscrete().patch(model, sampling, zsnr)` puts in the model
  (`get_model_object("model_sampling")`; the model is the SD15 BaseModel stand-in of
  comfyui_driver.py, whose config gives ComfyUI's default SD 1.x betas = tiny-sd's), read
  through that test's `sampling_record`: sha256 of sigmas / log_sigmas, timestep() and
  sigma() at probes, percent_to_sigma, calculate_input / calculate_denoised on fixed tensors,
  and comfy.samplers.calculate_sigmas for 7 schedulers at 10 steps;
- `graphs`: the test's GRAPHS through ComfyUI's own nodes (comfyui_driver.py), the final latent
  and SaveImage pixels, and the pixels of the same graph without the patch.
No ComfyUI code here.
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


def unpatched(graph: dict) -> dict:
    g = copy.deepcopy(graph)
    for node in g.values():
        if node["inputs"].get("model") == ["10", 0]:
            node["inputs"]["model"] = ["1", 0]
    del g["10"]
    return g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    from comfyui_driver import Comfy, latent_of
    driver = Comfy(args.comfyui)
    import comfy.samplers
    import comfy_extras.nodes_model_advanced as advanced
    import comfyui_goldens as S
    import numpy as np
    import test_comfyui_model_sampling as T

    torch = driver.torch
    patcher, _clip, _vae = driver.checkpoint()
    samplings = {}
    with torch.no_grad():
        for sampling, zsnr in T.SAMPLING_CASES:
            (model,) = advanced.ModelSamplingDiscrete().patch(patcher, sampling, zsnr)
            ms = model.get_model_object("model_sampling")
            record = T.sampling_record(ms, comfy.samplers.calculate_sigmas)
            samplings[T.case_id(sampling, zsnr)] = record
            print(T.case_id(sampling, zsnr), [c.__name__ for c in type(ms).__mro__[1:3]], record["sigma_max"])
    graphs = {}
    for name, graph in T.GRAPHS.items():
        values = driver.run(copy.deepcopy(graph))
        latents = [S.summarise_latent(latent_of(values[n][i]).float()) for n, i in T.LATENT_OUTPUTS[name]]
        without = driver.run(unpatched(graph))["9"][0]
        graphs[name] = {"graph": graph, "latents": latents, "pixels": S.summarise_pixels(values["9"][0]),
                        "unpatched_pixels_sha256": S.summarise_pixels(without)["sha256"]}
        print(name, [l["sha256"][:12] for l in latents], graphs[name]["pixels"]["sha256"][:12], flush=True)
    out = {"comfyui_commit": S.COMFYUI_COMMIT, "torch": torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(torch),
           "samplings": samplings, "graphs": graphs}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(samplings)} samplings, {len(graphs)} graphs -> {args.out}")


if __name__ == "__main__":
    main()
