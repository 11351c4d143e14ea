"""Make tests/goldens/comfyui/sdxl.json by running ComfyUI's own SDXL code on the embedded
tiny-sdxl: text encodings, the y vector, and the graphs of
tests/diffusion/engines/comfyui/test_comfyui_sdxl.py through ComfyUI's nodes.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_sdxl.py --comfyui DIR -o OUT.json

ComfyUI (unmodified, "--cpu", one torch thread) runs: comfy.sd.CLIP around a real
comfy.sdxl_clip.SDXLClipModel (its encode_token_weights, cut and concatenation) whose two
members are real comfy.sd1_clip.SDClipModel objects configured exactly as SDXLClipModel
configures them (CLIP-L: layer "hidden", layer_idx -2, layer_norm_hidden_state False; CLIP-G:
the same plus pad token 0 and return_projected_pooled True), and a real
comfy.sdxl_clip.SDXLTokenizer whose members are real SDTokenizers (CLIP-G's with
pad_with_end False, as SDXLClipGTokenizer); nodes.CLIPTextEncode, nodes.CLIPSetLastLayer,
comfy_extras.nodes_clip_sdxl.CLIPTextEncodeSDXL, nodes.KSampler(Advanced) over a real
comfy.model_base.SDXL (its encode_adm, extra_conds, latent format 0.13025) in a real
ModelPatcher.

Adaptations, because tiny-sdxl is a small diffusers model and not an SDXL checkpoint:
- the SDClipModels are built with the tiny encoders' config dicts (32 wide, 3 layers) and
  special tokens read from the tiny tokenizers (start 1340, end 1341; CLIP-G pad 0), the
  token tables padded to ComfyUI's 49408 rows, weights named "text_model." + the
  transformers names (text_projection.weight as it is): SDXLClipModel.__init__ would build
  the full-size encoders, so the object is assembled from the two tiny members;
- the SDXL BaseModel's size embedder is ComfyUI's own Timestep class at width 8, tiny-sdxl's
  addition_time_embed_dim (SDXL's is 256);
- diffusion_model is the tiny diffusers UNet fed ComfyUI's y as text_embeds with
  zero-width time_ids (so its add_embedding gets y unchanged; the engine does the same);
- EmptyLatentImage: zeros [batch, 4, height // 2, width // 2] (tiny-sdxl's VAE is 2x);
  VAEDecode: the diffusers VAE, then ComfyUI's clamp((x + 1) / 2, 0, 1).
No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_XL = REPO / "registry/embedded/tiny-sdxl"
TINY_REFINER = REPO / "registry/embedded/tiny-sdxl-refiner"
sys.path.insert(0, str(REPO / "tools/goldens"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    import comfyui_text
    comfy_sd, sd1_clip, nodes, _mm = comfyui_text.comfy_modules(args.comfyui)
    import comfy.model_base
    import comfy.model_patcher
    import comfy.sdxl_clip
    import comfy.supported_models
    import folder_paths
    import numpy as np
    import torch
    from comfy.ldm.modules.diffusionmodules.openaimodel import Timestep
    from comfy_extras.nodes_clip_sdxl import CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from PIL import Image
    from safetensors.torch import load_file

    import test_comfyui_sdxl as T

    torch.set_num_threads(1)
    out_dir = tempfile.mkdtemp(prefix="comfy-sdxl-")
    folder_paths.set_output_directory(out_dir)

    def tokenizer_of(folder, root=TINY_XL, **kw):
        return sd1_clip.SDTokenizer(tokenizer_path=str(root / folder), embedding_size=32, **kw)

    def clip_member(folder, pad_zero, root=TINY_XL):
        config = json.loads((root / folder / "config.json").read_text())
        probe = tokenizer_of("tokenizer_2" if pad_zero else "tokenizer", root, pad_with_end=not pad_zero)
        special = {"start": probe.start_token, "end": probe.end_token, "pad": 0 if pad_zero else probe.end_token}
        member = sd1_clip.SDClipModel(layer="hidden", layer_idx=-2, device="cpu", dtype=torch.float16,
                                      textmodel_json_config=dict(config), special_tokens=special,
                                      layer_norm_hidden_state=False, return_projected_pooled=pad_zero,
                                      model_options={"model_name": "clip_g" if pad_zero else "clip_l"})
        weights = load_file(str(root / folder / "model.safetensors"))
        table = weights["text_model.embeddings.token_embedding.weight" if "text_model.embeddings.token_embedding.weight"
                        in weights else "embeddings.token_embedding.weight"]
        named = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v
                 for k, v in weights.items()}
        full = torch.zeros(49408, table.shape[1], dtype=table.dtype)
        full[:table.shape[0]] = table
        named["text_model.embeddings.token_embedding.weight"] = full
        missing, unexpected = member.load_sd(named)
        assert not unexpected, unexpected
        assert all("text_projection" in k for k in missing) and (not pad_zero or not missing), missing
        return member

    class TinySDXLClip(comfy.sdxl_clip.SDXLClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):
            torch.nn.Module.__init__(self)
            self.clip_l = clip_member("text_encoder", False)
            self.clip_g = clip_member("text_encoder_2", True)
            self.dtypes = {torch.float16}

    class TinySDXLTokenizer(comfy.sdxl_clip.SDXLTokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):
            self.clip_l = tokenizer_of("tokenizer")
            self.clip_g = tokenizer_of("tokenizer_2", pad_with_end=False, embedding_key="clip_g")

    class Target:
        params = {}
        clip = TinySDXLClip
        tokenizer = TinySDXLTokenizer

    def make_clip():
        return comfy_sd.CLIP(Target)

    # the refiner: comfy.sdxl_clip.SDXLRefinerClipModel is SD1ClipModel(clip_name="g",
    # clip_model=SDXLClipG); its member is the tiny refiner's CLIP-G, configured as above
    class TinyRefinerClip(sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):
            super().__init__(device=device, dtype=dtype, model_options=model_options, clip_name="g",
                             clip_model=lambda **kw: clip_member("text_encoder_2", True, TINY_REFINER))

    class TinyRefinerTokenizer(comfy.sdxl_clip.SDXLTokenizer):
        # SDXLTokenizer (ComfyUI's refiner clip_target) tokenizes for L too; the refiner's
        # model reads only "g", so L's tokenizer here is tiny-sdxl's and never matters
        def __init__(self, embedding_directory=None, tokenizer_data={}):
            self.clip_l = tokenizer_of("tokenizer")
            self.clip_g = tokenizer_of("tokenizer_2", TINY_REFINER, pad_with_end=False, embedding_key="clip_g")

    class RefinerTarget:
        params = {}
        clip = TinyRefinerClip
        tokenizer = TinyRefinerTokenizer

    class DiffusersSDXLUNet(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        @property
        def dtype(self):
            return torch.float32

        def forward(self, x, timesteps, context=None, y=None, control=None, transformer_options={}, **kwargs):
            empty = y.new_zeros((y.shape[0], 0))
            return self.inner(x, timesteps, encoder_hidden_states=context,
                              added_cond_kwargs={"text_embeds": y, "time_ids": empty}, return_dict=False)[0]

    vae = AutoencoderKL.from_pretrained(str(TINY_XL / "vae"), local_files_only=True).eval()
    time_dim = json.loads((TINY_XL / "unet/config.json").read_text())["addition_time_embed_dim"]

    refiner_vae = AutoencoderKL.from_pretrained(str(TINY_REFINER / "vae"), local_files_only=True).eval()

    def sdxl_base(refiner=False):
        root = TINY_REFINER if refiner else TINY_XL
        config = (comfy.supported_models.SDXLRefiner if refiner else comfy.supported_models.SDXL)(
            {"disable_unet_model_creation": True})
        cls = comfy.model_base.SDXLRefiner if refiner else comfy.model_base.SDXL
        base = cls(config, comfy.model_base.ModelType.EPS, device=torch.device("cpu"))
        base.embedder = Timestep(time_dim)
        unet = UNet2DConditionModel.from_pretrained(str(root / "unet"), local_files_only=True).eval()
        base.diffusion_model = DiffusersSDXLUNet(unet)
        return base

    def checkpoint(name):
        refiner = name == T.REFINER
        patcher = comfy.model_patcher.ModelPatcher(sdxl_base(refiner), load_device=torch.device("cpu"),
                                                   offload_device=torch.device("cpu"))
        if refiner:
            return patcher, comfy_sd.CLIP(RefinerTarget), refiner_vae
        return patcher, make_clip(), vae

    def sha(t):
        return T.summarise_tensor(t)

    # text
    text = []
    clip = make_clip()
    for name, inputs, skip in T.TEXT_CASES:
        c = clip if skip is None else nodes.CLIPSetLastLayer().set_last_layer(clip, skip)[0]
        with torch.no_grad():
            if "text" in inputs:
                cond = nodes.CLIPTextEncode().encode(c, inputs["text"])[0]
            else:
                cond = CLIPTextEncodeSDXL.execute(clip=c, **inputs)[0]
        tensor, extra = cond[0]
        text.append({"name": name, "cond": sha(tensor), "pooled": sha(extra["pooled_output"])})
        print("text", name, text[-1]["cond"]["sha256"][:12], flush=True)

    # the y vector: SDXL.encode_adm as encode_model_conds calls it (sizes, else latent * 8)
    base = sdxl_base()
    pooled = torch.randn(1, 32, generator=torch.Generator().manual_seed(5))
    adm_cases = []
    for sizes, latent_shape in (({}, [1, 4, 32, 32]), ({}, [1, 4, 24, 40]),
                                ({"width": 1024, "height": 768, "crop_w": 16, "crop_h": 32, "target_width": 2048,
                                  "target_height": 1536}, [1, 4, 32, 32]),
                                ({"width": 832, "height": 1216}, [1, 4, 152, 104])):
        params = {"pooled_output": pooled, "device": "cpu", "width": sizes.get("width", latent_shape[3] * 8),
                  "height": sizes.get("height", latent_shape[2] * 8), "prompt_type": "positive"}
        params.update({k: v for k, v in sizes.items() if k not in ("width", "height")})
        y = base.encode_adm(**params)
        adm_cases.append({"sizes": sizes, "latent_shape": latent_shape,
                          "pooled": [float(v).hex() for v in pooled.reshape(-1)], "y": sha(y)})

    # the refiner's text (CLIP-G only) and y (SDXLRefiner.encode_adm)
    refiner_text = []
    rclip = comfy_sd.CLIP(RefinerTarget)
    for text_value, skip in (("a lighthouse at dawn", None), ("(masterpiece:1.2), a (red:0.8) fox", None),
                             (T.LONG, None), ("a (red:1.1) fox", -1)):
        c = rclip if skip is None else nodes.CLIPSetLastLayer().set_last_layer(rclip, skip)[0]
        with torch.no_grad():
            cond = nodes.CLIPTextEncode().encode(c, text_value)[0]
        tensor, extra = cond[0]
        refiner_text.append({"text": text_value, "skip": skip, "cond": sha(tensor), "pooled": sha(extra["pooled_output"])})
    rbase = sdxl_base(refiner=True)
    refiner_adm = []
    for sizes, latent_shape, prompt_type in (({}, [1, 4, 32, 32], "positive"), ({}, [1, 4, 32, 32], "negative"),
                                             ({"aesthetic_score": 7.25, "width": 1024, "height": 768},
                                              [1, 4, 32, 32], "negative"),
                                             ({"crop_w": 8, "crop_h": 16}, [1, 4, 24, 40], "positive")):
        params = {"pooled_output": pooled, "device": "cpu", "width": sizes.get("width", latent_shape[3] * 8),
                  "height": sizes.get("height", latent_shape[2] * 8), "prompt_type": prompt_type}
        params.update({k: v for k, v in sizes.items() if k not in ("width", "height")})
        refiner_adm.append({"sizes": sizes, "latent_shape": latent_shape, "prompt_type": prompt_type,
                            "pooled": [float(v).hex() for v in pooled.reshape(-1)],
                            "y": sha(rbase.encode_adm(**params))})

    # graphs
    classes = {"CLIPTextEncode": nodes.CLIPTextEncode, "CLIPSetLastLayer": nodes.CLIPSetLastLayer,
               "KSampler": nodes.KSampler, "KSamplerAdvanced": nodes.KSamplerAdvanced}

    def run(graph):
        values = {}

        def evaluate(node_id):
            if node_id in values:
                return
            node = graph[node_id]
            inputs = {}
            for key, value in node["inputs"].items():
                if isinstance(value, list):
                    evaluate(value[0])
                    inputs[key] = values[value[0]][value[1]]
                else:
                    inputs[key] = value
            kind = node["class_type"]
            with torch.no_grad():
                if kind == "CheckpointLoaderSimple":
                    out = checkpoint(inputs["ckpt_name"])
                elif kind == "EmptyLatentImage":
                    out = ({"samples": torch.zeros([inputs["batch_size"], 4, inputs["height"] // 2,
                                                    inputs["width"] // 2])},)
                elif kind == "VAEDecode":
                    image = inputs["vae"].decode(inputs["samples"]["samples"], return_dict=False)[0]
                    out = (torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1),)
                elif kind == "SaveImage":
                    saved = nodes.SaveImage().save_images(inputs["images"], filename_prefix=inputs["filename_prefix"])
                    out = (np.stack([np.array(Image.open(Path(out_dir) / f["subfolder"] / f["filename"]))
                                     for f in saved["ui"]["images"]]),)
                elif kind == "CLIPTextEncodeSDXL":
                    out = tuple(CLIPTextEncodeSDXL.execute(**inputs))
                elif kind == "CLIPTextEncodeSDXLRefiner":
                    out = tuple(CLIPTextEncodeSDXLRefiner.execute(**inputs))
                else:
                    cls = classes[kind]
                    out = getattr(cls(), cls.FUNCTION)(**inputs)
            values[node_id] = out

        for node_id, node in graph.items():
            if node["class_type"] == "SaveImage":
                evaluate(node_id)
        return values

    graphs = {}
    for name, graph in T.GRAPHS.items():
        values = run(graph)
        latents = [T.summarise_latent(values[n][i]["samples"].float()) for n, i in T.LATENT_OUTPUTS[name]]
        graphs[name] = {"graph": graph, "latents": latents, "pixels": T.summarise_pixels(values["9"][0])}
        print(name, [lat["sha256"][:12] for lat in latents], graphs[name]["pixels"]["sha256"][:12], flush=True)

    out = {"comfyui_commit": T.COMFYUI_COMMIT, "torch": torch.__version__, "numpy": np.__version__,
           "text": text, "adm": adm_cases, "refiner_text": refiner_text, "refiner_adm": refiner_adm,
           "graphs": graphs}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(text)} text cases, {len(adm_cases)} adm cases, {len(graphs)} graphs -> {args.out}")


if __name__ == "__main__":
    main()
