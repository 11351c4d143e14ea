"""The small driver the newer ComfyUI graph golden scripts share (comfyui_areas.py,
comfyui_model_sampling.py, comfyui_vae_loader.py, comfyui_sdxl.py with its own checkpoints): ComfyUI 0.3.64 imported unmodified with
"--cpu", and an API graph evaluated node by node in dependency order, each node through its
ComfyUI class's own FUNCTION with the node's inputs (what ComfyUI's execution.py calls; the
server and queue are left out).  No ComfyUI code here.

Stand-ins, as tools/goldens/comfyui_graphs.py (its docstring says why), because tiny-sd is a
diffusers model with a 2x VAE that ComfyUI's loaders do not take:
- CheckpointLoaderSimple -> a real comfy.model_base.BaseModel (SD15, EPS) in a real
  ModelPatcher with the tiny-sd diffusers UNet as diffusion_model, the real comfy.sd.CLIP of
  comfyui_text.py around the tiny-sd CLIP, and the tiny-sd diffusers VAE;
- EmptyLatentImage -> zeros [batch, 4, height // 2, width // 2];
- VAEDecode -> the diffusers VAE decode, then ComfyUI's process_output clamp((x + 1) / 2, 0, 1);
- VAELoader -> whatever the script hands in (comfyui_vae_loader.py: the loaded VAE file);
- ConditioningSetArea -> ComfyUI's own node, given width/height/x/y times 8 // 2 = 4: it divides
  pixels by its hard-coded 8, the engine by the VAE's factor (2 on tiny-sd), and
  (4 p) // 8 == p // 2 for every integer p, so ComfyUI's node makes the engine's latent box.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "registry/embedded/tiny-sd"
TINY_VAE_FACTOR = 2
AREA_SCALE = 8 // TINY_VAE_FACTOR


class Comfy:
    def __init__(self, comfyui: str):
        sys.path.insert(0, str(REPO / "tools/goldens"))
        sys.path.insert(0, str(REPO / "tests"))
        import comfyui_text
        self.comfy_sd, self.sd1_clip, self.nodes, _mm = comfyui_text.comfy_modules(comfyui)
        self.comfyui_text = comfyui_text
        import comfy.model_base
        import comfy.model_patcher
        import comfy.supported_models
        import comfy_extras.nodes_custom_sampler as custom
        import comfy_extras.nodes_model_advanced as advanced
        import folder_paths
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.comfy = comfy
        self.out_dir = tempfile.mkdtemp(prefix="comfy-goldens-")
        folder_paths.set_output_directory(self.out_dir)
        self.classes = {name: getattr(self.nodes, name) for name in (
            "CLIPTextEncode", "CLIPSetLastLayer", "KSampler", "KSamplerAdvanced", "LatentUpscaleBy",
            "ConditioningCombine", "ConditioningConcat", "ConditioningSetArea", "ConditioningSetAreaPercentage",
            "ConditioningSetAreaStrength", "SaveImage")}
        self.classes.update({name: getattr(custom, name) for name in (
            "BasicScheduler", "KSamplerSelect", "RandomNoise", "CFGGuider", "BasicGuider", "SamplerCustom",
            "SamplerCustomAdvanced")})
        self.classes.update({name: getattr(advanced, name) for name in ("ModelSamplingDiscrete",)})
        self.vae_files: dict = {}
        from diffusers import AutoencoderKL
        self.vae = AutoencoderKL.from_pretrained(TINY / "vae").eval()

    def unet_standin(self):
        from diffusers import UNet2DConditionModel
        torch = self.torch

        class DiffusersUNet(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            @property
            def dtype(self):
                return torch.float32

            def forward(self, x, timesteps, context=None, control=None, transformer_options={}, **kwargs):
                return self.inner(x, timesteps, encoder_hidden_states=context, return_dict=False)[0]

        return DiffusersUNet(UNet2DConditionModel.from_pretrained(TINY / "unet").eval())

    def checkpoint(self, name=None):
        """The tiny-sd stand-in, whatever ckpt_name says (a script may replace this)."""
        comfy, torch = self.comfy, self.torch
        config = comfy.supported_models.SD15({"disable_unet_model_creation": True})
        base = comfy.model_base.BaseModel(config, comfy.model_base.ModelType.EPS, device=torch.device("cpu"))
        base.diffusion_model = self.unet_standin()
        patcher = comfy.model_patcher.ModelPatcher(base, load_device=torch.device("cpu"),
                                                   offload_device=torch.device("cpu"))
        clip = self.comfyui_text.build_comfy_clip(self.comfy_sd, self.sd1_clip, torch)
        return patcher, clip, self.vae

    def decode(self, samples, vae_model):
        torch = self.torch
        with torch.no_grad():
            image = vae_model.decode(samples, return_dict=False)[0]
        return (torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1),)

    def run(self, graph: dict) -> dict:
        """node id -> its outputs; SaveImage's output is the PNG's pixels read back (uint8)."""
        import numpy as np
        from PIL import Image

        torch, nodes = self.torch, self.nodes
        values: dict = {}

        def evaluate(node_id):
            if node_id in values:
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
                    out = self.checkpoint(inputs.get("ckpt_name"))
                elif kind == "EmptyLatentImage":
                    f = TINY_VAE_FACTOR
                    out = ({"samples": torch.zeros([inputs["batch_size"], 4, inputs["height"] // f,
                                                    inputs["width"] // f])},)
                elif kind == "VAELoader":
                    out = (self.vae_files[inputs["vae_name"]],)
                elif kind == "VAEDecode":
                    out = self.decode(inputs["samples"]["samples"], inputs["vae"])
                elif kind == "SaveImage":
                    saved = nodes.SaveImage().save_images(inputs["images"], filename_prefix=inputs["filename_prefix"])
                    out = (np.stack([np.array(Image.open(Path(self.out_dir) / f["subfolder"] / f["filename"]))
                                     for f in saved["ui"]["images"]]),)
                else:
                    if kind == "ConditioningSetArea":
                        inputs.update({k: inputs[k] * AREA_SCALE for k in ("width", "height", "x", "y")})
                    cls = self.classes[kind]
                    # classic nodes name their method in FUNCTION; v3 (comfy_api io) nodes execute
                    out = getattr(cls(), cls.FUNCTION)(**inputs) if hasattr(cls, "FUNCTION") else tuple(cls.execute(**inputs))
            values[node_id] = out

        for node_id, node in graph.items():
            if node["class_type"] == "SaveImage":
                evaluate(node_id)
        return values


def latent_of(value):
    return value["samples"] if isinstance(value, dict) else value
