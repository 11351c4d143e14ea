"""Make tests/goldens/comfyui/samplers.json by running ComfyUI's own KSampler nodes on tiny-sd.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_samplers.py --comfyui DIR -o OUT.json

ComfyUI (unmodified, "--cpu") runs its real node path: nodes.KSampler / nodes.KSamplerAdvanced
-> common_ksampler -> comfy.sample.prepare_noise / comfy.sample.sample -> comfy.samplers.KSampler
-> CFGGuider -> KSAMPLER -> comfy.k_diffusion.sampling / comfy.extra_samplers.uni_pc, over a real
comfy.model_base.BaseModel (SD15 config, EPS, ModelSamplingDiscrete) in a real
comfy.model_patcher.ModelPatcher.  Stand-ins, because tiny-sd is a diffusers model that
ComfyUI's loaders do not take (its VAE downsamples 2x, ComfyUI assumes 8x):
- BaseModel.diffusion_model: the tiny-sd diffusers UNet behind ComfyUI's UNetModel call
  (x, timesteps, context=..., **ignored) -> unet(x, timesteps, encoder_hidden_states=context);
- CLIPTextEncode's output: fixed random embeddings (the kdiffusion scene's), as [[cond, {}]];
- the latent: zeros 1x4x32x32 given as {"samples": ...} (EmptyLatentImage would make 8x8 for 64x64);
- VAEDecode: tiny-sd's diffusers VAE decode of the ComfyUI latent, then ComfyUI's VAE
  process_output arithmetic clamp((x + 1) / 2, 0, 1) (comfy/sd.py), then ComfyUI's own
  nodes.SaveImage writing a PNG into a temporary output directory, read back as uint8.
The scene and the case list are tests/diffusion/engines/comfyui/test_comfyui_numerics.py's (imported).  No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--only", default=None, help="run only cases whose id contains this")
    args = ap.parse_args()
    sys.argv = [sys.argv[0], "--cpu"]
    sys.path.insert(0, args.comfyui)
    import comfy.options
    comfy.options.enable_args_parsing()
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models
    import folder_paths
    import nodes
    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))
    import test_comfyui_numerics as T
    import tiny_sd_scene as K

    torch.set_num_threads(1)
    unet, vae = K.load_tiny_sd()

    class DiffusersUNet(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        @property
        def dtype(self):
            return torch.float32

        def forward(self, x, timesteps, context=None, control=None, transformer_options={}, **kwargs):
            return self.inner(x, timesteps, encoder_hidden_states=context, return_dict=False)[0]

    config = comfy.supported_models.SD15({"disable_unet_model_creation": True})
    base = comfy.model_base.BaseModel(config, comfy.model_base.ModelType.EPS, device=torch.device("cpu"))
    base.diffusion_model = DiffusersUNet(unet)
    patcher = comfy.model_patcher.ModelPatcher(base, load_device=torch.device("cpu"),
                                               offload_device=torch.device("cpu"))
    cond, uncond = K.conditioning()
    positive, negative = [[cond, {}]], [[uncond, {}]]
    out_dir = tempfile.mkdtemp(prefix="comfy-goldens-")
    folder_paths.set_output_directory(out_dir)

    def pixels(latent):
        with torch.no_grad():
            image = vae.decode(latent, return_dict=False)[0]
        image = torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1)
        saved = nodes.SaveImage().save_images(image, filename_prefix="golden")
        files = saved["ui"]["images"]
        return np.stack([np.array(Image.open(Path(out_dir) / f["subfolder"] / f["filename"])) for f in files])

    results = {}
    cases = []
    for case in T.SAMPLER_CASES:
        if args.only and args.only not in case["id"]:
            continue
        if case.get("latent_from"):
            latent = results[case["latent_from"]]
        else:
            latent = torch.zeros([case.get("batch", 1)] + T.SAMPLER_SCENE["latent_shape"][1:])
        latent_in = {"samples": latent}
        with torch.no_grad():
            if case["node"] == "KSampler":
                (out,) = nodes.KSampler().sample(patcher, case["seed"], case["steps"], case["cfg"], case["sampler"],
                                                 case["scheduler"], positive, negative, latent_in,
                                                 denoise=case.get("denoise", 1.0))
            else:
                (out,) = nodes.KSamplerAdvanced().sample(
                    patcher, case["add_noise"], case["seed"], case["steps"], case["cfg"], case["sampler"],
                    case["scheduler"], positive, negative, latent_in, case["start_at_step"], case["end_at_step"],
                    case["return_with_leftover_noise"])
        samples = out["samples"]
        results[case["id"]] = samples
        record = T.summarise_latent(samples)
        record.update(T.summarise_pixels(pixels(samples)))
        record["id"] = case["id"]
        cases.append(record)
        print(case["id"], record["latent_sha256"][:12], record["pixels_sha256"][:12], flush=True)

    out = {"comfyui_commit": T.COMFYUI_COMMIT, "torch": torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(torch),
           "scene": T.SAMPLER_SCENE, "cases": cases}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(cases)} KSampler cases -> {args.out}")


if __name__ == "__main__":
    main()
