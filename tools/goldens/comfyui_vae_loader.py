"""Make tests/goldens/comfyui/vae_loader.json: the VAELoader graph of
tests/diffusion/engines/comfyui/test_comfyui_vae_loader.py through ComfyUI's own nodes.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_vae_loader.py --comfyui DIR -o OUT.json

ComfyUI's own CLIPTextEncode, KSampler and SaveImage run (comfyui_driver.py).  The VAE is
NOT ComfyUI's: comfy.sd.VAE builds its autoencoder from a hard-coded SD config (128 base
channels, GroupNorm of 32 groups) that tiny-sd's 2x VAE (16 channels, 8 groups) cannot fill.
So VAELoader is stood in for by the file the test makes (make_vae_file), read back with
safetensors and loaded into a diffusers AutoencoderKL built from tiny-sd's VAE config
(`AutoencoderKL.from_config` + `load_state_dict(strict=True)`), and VAEDecode by that
VAE's decode followed by ComfyUI's process_output arithmetic, as for the checkpoint VAE.
What this golden pins: ComfyUI's sampling on the graph and that the engine decodes with
the loaded file, not the checkpoint's VAE (`checkpoint_vae_pixels_sha256` is the same
graph decoded by the checkpoint VAE).  No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
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
    from comfyui_driver import TINY, Comfy, latent_of
    driver = Comfy(args.comfyui)
    import comfyui_goldens as S
    import numpy as np
    import test_comfyui_vae_loader as T
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    path = Path(tempfile.mkdtemp(prefix="comfy-vae-")) / T.VAE_NAME
    digest = T.make_vae_file(path)
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(TINY / "vae")).eval()
    vae.load_state_dict(load_file(str(path)), strict=True)
    driver.vae_files[T.VAE_NAME] = vae
    graphs = {}
    for name, graph in T.GRAPHS.items():
        values = driver.run(copy.deepcopy(graph))
        latents = [S.summarise_latent(latent_of(values[n][i]).float()) for n, i in T.LATENT_OUTPUTS[name]]
        own = copy.deepcopy(graph)
        own["8"]["inputs"]["vae"] = ["1", 2]
        del own["11"]
        graphs[name] = {"graph": graph, "latents": latents, "pixels": S.summarise_pixels(values["9"][0]),
                        "checkpoint_vae_pixels_sha256": S.summarise_pixels(driver.run(own)["9"][0])["sha256"]}
        print(name, [l["sha256"][:12] for l in latents], graphs[name]["pixels"]["sha256"][:12], flush=True)
    out = {"comfyui_commit": S.COMFYUI_COMMIT, "torch": driver.torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(driver.torch),
           "vae_file": {"name": T.VAE_NAME, "tensors_sha256": digest, "bytes": path.stat().st_size},
           "graphs": graphs}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(graphs)} graphs -> {args.out}")


if __name__ == "__main__":
    main()
