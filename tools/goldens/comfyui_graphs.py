"""Make tests/goldens/comfyui/graphs.json (and the LoRA fixture) by running ComfyUI's own nodes
on the API graphs of tests/diffusion/engines/comfyui/test_comfyui_graph.py with the embedded tiny-sd.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_graphs.py --comfyui DIR -o OUT.json [--make-lora]

Each graph is evaluated node by node in dependency order by a small driver here that calls the
ComfyUI node class's own FUNCTION with the node's inputs (ComfyUI's execution.py would do the
same calls; its server/queue machinery is left out).  ComfyUI's own classes run for
CLIPTextEncode, CLIPSetLastLayer, LoraLoader, LoraLoaderModelOnly, KSampler, KSamplerAdvanced,
LatentUpscaleBy, ConditioningCombine, ConditioningConcat, BasicScheduler, KSamplerSelect,
RandomNoise, CFGGuider, SamplerCustom, SamplerCustomAdvanced and SaveImage.  Stand-ins,
because tiny-sd is a diffusers model that ComfyUI's loaders do not take:
- CheckpointLoaderSimple -> (the C1 stand-in MODEL: a real comfy.model_base.BaseModel (SD15,
  EPS) in a real ModelPatcher with the tiny-sd diffusers UNet as diffusion_model;
  the real comfy.sd.CLIP of tools/goldens/comfyui_text.py around the tiny-sd CLIP; the
  tiny-sd diffusers VAE);
- EmptyLatentImage -> zeros [batch, 4, height // 2, width // 2] (tiny-sd's VAE is 2x);
- VAEDecode -> the diffusers VAE decode, then ComfyUI's process_output clamp((x + 1) / 2, 0, 1);
- LoRA key names: comfy.lora.model_lora_keys_unet maps kohya names to ComfyUI's CompVis UNet
  keys, which the diffusers stand-in does not have; the wrapper here points every
  lora_unet_<path> at the stand-in's own diffusion_model.inner.<path>.weight (the module the
  name denotes).  The CLIP keys are ComfyUI's own mapping, unchanged.
With --make-lora the random kohya LoRA fixture is (re)written first.  No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools/goldens"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))

LORA_SEED = 20261202
LORA_UNET = ("down_blocks.1.attentions.0.proj_in", "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
             "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
             "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v",
             "mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0",
             "up_blocks.0.attentions.0.transformer_blocks.0.ff.net.2", "down_blocks.0.resnets.0.conv1")
LORA_TE = ("encoder.layers.0.self_attn.q_proj", "encoder.layers.1.self_attn.out_proj", "encoder.layers.2.mlp.fc1")


def make_lora(path: Path, unet, text_encoder, torch) -> None:
    """A random rank-4 kohya-named LoRA (float32, alpha 2) for tiny-sd."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(LORA_SEED)
    modules = dict(unet.named_modules())
    te = dict(getattr(text_encoder, "text_model", text_encoder).named_modules())
    tensors = {}
    rank = 4
    for prefix, names, table in (("lora_unet_", LORA_UNET, modules), ("lora_te_text_model_", LORA_TE, te)):
        for name in names:
            weight = table[name].weight
            key = prefix + name.replace(".", "_")
            if weight.ndim == 4:
                down = torch.randn(rank, weight.shape[1], weight.shape[2], weight.shape[3], generator=g) * 0.1
                up = torch.randn(weight.shape[0], rank, 1, 1, generator=g) * 0.1
            else:
                down = torch.randn(rank, weight.shape[1], generator=g) * 0.1
                up = torch.randn(weight.shape[0], rank, generator=g) * 0.1
            tensors[key + ".lora_down.weight"] = down.contiguous()
            tensors[key + ".lora_up.weight"] = up.contiguous()
            tensors[key + ".alpha"] = torch.tensor(2.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"ss_output_name": "comfyui-tiny", "ss_network_dim": "4",
                                            "ss_network_alpha": "2.0"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--make-lora", action="store_true")
    args = ap.parse_args()
    import comfyui_text
    comfy_sd, sd1_clip, nodes, mm = comfyui_text.comfy_modules(args.comfyui)
    import comfy.lora
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models
    import comfy_extras.nodes_custom_sampler as custom
    import folder_paths
    import numpy as np
    import torch
    from PIL import Image

    import hashlib
    import test_comfyui_graph as T
    import tiny_sd_scene as K
    from transformers import CLIPTextModel

    torch.set_num_threads(1)
    unet, vae = K.load_tiny_sd()
    if args.make_lora:
        make_lora(T.LORA, unet, CLIPTextModel.from_pretrained(T.TINY / "text_encoder"), torch)
    lora_dir = tempfile.mkdtemp(prefix="comfy-loras-")
    (Path(lora_dir) / T.LORA_NAME).write_bytes(T.LORA.read_bytes())
    folder_paths.add_model_folder_path("loras", lora_dir)
    out_dir = tempfile.mkdtemp(prefix="comfy-graphs-")
    folder_paths.set_output_directory(out_dir)

    class DiffusersUNet(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        @property
        def dtype(self):
            return torch.float32

        def forward(self, x, timesteps, context=None, control=None, transformer_options={}, **kwargs):
            return self.inner(x, timesteps, encoder_hidden_states=context, return_dict=False)[0]

    original_keys_unet = comfy.lora.model_lora_keys_unet

    def keys_unet_for_standin(model, key_map={}):
        key_map = original_keys_unet(model, key_map)
        names = set(model.state_dict())
        for name, _module in model.diffusion_model.inner.named_modules():
            target = f"diffusion_model.inner.{name}.weight"
            if target in names:
                key_map["lora_unet_" + name.replace(".", "_")] = target
        return key_map

    comfy.lora.model_lora_keys_unet = keys_unet_for_standin

    def checkpoint():
        config = comfy.supported_models.SD15({"disable_unet_model_creation": True})
        base = comfy.model_base.BaseModel(config, comfy.model_base.ModelType.EPS, device=torch.device("cpu"))
        fresh_unet, _ = K.load_tiny_sd()  # one per graph: LoRA patches must not leak between graphs
        base.diffusion_model = DiffusersUNet(fresh_unet)
        patcher = comfy.model_patcher.ModelPatcher(base, load_device=torch.device("cpu"),
                                                   offload_device=torch.device("cpu"))
        clip = comfyui_text.build_comfy_clip(comfy_sd, sd1_clip, torch)
        return patcher, clip, vae

    classes = {name: getattr(nodes, name) for name in (
        "CLIPTextEncode", "CLIPSetLastLayer", "LoraLoader", "LoraLoaderModelOnly", "KSampler", "KSamplerAdvanced",
        "LatentUpscaleBy", "ConditioningCombine", "ConditioningConcat", "SaveImage")}
    classes.update({name: getattr(custom, name) for name in (
        "BasicScheduler", "KSamplerSelect", "RandomNoise", "CFGGuider", "BasicGuider", "SamplerCustom",
        "SamplerCustomAdvanced")})

    def decode(samples, vae_model):
        with torch.no_grad():
            image = vae_model.decode(samples, return_dict=False)[0]
        return (torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1),)

    def run(graph):
        values = {}
        done = set()

        def evaluate(node_id):
            if node_id in done:
                return
            node = graph[node_id]
            inputs = {}
            for name, value in node["inputs"].items():
                if isinstance(value, list):
                    evaluate(value[0])
                    inputs[name] = values[value[0]][value[1]]
                else:
                    inputs[name] = value
            kind = node["class_type"]
            with torch.no_grad():
                if kind == "CheckpointLoaderSimple":
                    out = checkpoint()
                elif kind == "EmptyLatentImage":
                    out = ({"samples": torch.zeros([inputs["batch_size"], 4, inputs["height"] // 2,
                                                    inputs["width"] // 2])},)
                elif kind == "VAEDecode":
                    out = decode(inputs["samples"]["samples"], inputs["vae"])
                elif kind == "SaveImage":
                    saved = nodes.SaveImage().save_images(inputs["images"], filename_prefix=inputs["filename_prefix"])
                    files = saved["ui"]["images"]
                    out = (np.stack([np.array(Image.open(Path(out_dir) / f["subfolder"] / f["filename"]))
                                     for f in files]),)
                else:
                    cls = classes[kind]
                    out = getattr(cls(), cls.FUNCTION)(**inputs)
            values[node_id] = out
            done.add(node_id)

        for node_id, node in graph.items():
            if node["class_type"] == "SaveImage":
                evaluate(node_id)
        return values

    def latent_of(value):
        return value["samples"] if isinstance(value, dict) else value

    result = {}
    for name, graph in T.GRAPHS.items():
        values = run(graph)
        latents = [T.summarise_latent(latent_of(values[n][i]).float()) for n, i in T.LATENT_OUTPUTS[name]]
        pixels = values["9"][0]
        result[name] = {"graph": graph, "latents": latents, "pixels": T.summarise_pixels(pixels)}
        print(name, [l["sha256"][:12] for l in latents], result[name]["pixels"]["sha256"][:12], flush=True)

    # the LoRA graph once more with both strengths 0 (LoraLoader then passes the models through)
    plain = json.loads(json.dumps(T.GRAPHS["lora"]))
    plain["10"]["inputs"].update(strength_model=0.0, strength_clip=0.0)
    without = run(plain)["9"][0]
    out = {"comfyui_commit": T.COMFYUI_COMMIT, "torch": torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(torch),
           "lora_fixture": {"path": str(T.LORA.relative_to(REPO)), "bytes": T.LORA.stat().st_size,
                            "sha256": hashlib.sha256(T.LORA.read_bytes()).hexdigest()},
           "lora_check": {"without_lora_pixels_sha256": T.summarise_pixels(without)["sha256"]},
           "graphs": result}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(result)} graphs -> {args.out}")


if __name__ == "__main__":
    main()
