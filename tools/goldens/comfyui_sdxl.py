"""Make tests/goldens/comfyui/sdxl.json by running ComfyUI's own SDXL code on the embedded
tiny-sdxl: text encodings, the y vector, and the graphs of
tests/diffusion/engines/comfyui/test_comfyui_sdxl.py through ComfyUI's nodes.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_sdxl.py --comfyui DIR -o OUT.json [--make-lora]

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
  VAEDecode: the diffusers VAE, then ComfyUI's clamp((x + 1) / 2, 0, 1);
- LoRA UNet keys: ComfyUI maps an SDXL kohya key (lora_unet_<LDM/SGM path>) to its own LDM
  UNet's weight; the stand-in's weights have diffusers names, so comfy.lora.model_lora_keys_unet
  is wrapped to point each lora_unet_<SGM path> at diffusion_model.inner.<diffusers path>.weight
  through ComfyUI's own comfy.utils.unet_to_diffusers map for tiny-sdxl's structure (given in
  ComfyUI's unet_config terms).  The CLIP keys (lora_te1_ / lora_te2_) are ComfyUI's own mapping.
With --make-lora the random SDXL kohya fixture is (re)written first.
No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

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
    ap.add_argument("--make-lora", action="store_true")
    args = ap.parse_args()
    from comfyui_driver import Comfy

    driver = Comfy(args.comfyui)  # ComfyUI imported, one thread, its output folder set
    comfy_sd, sd1_clip, nodes = driver.comfy_sd, driver.sd1_clip, driver.nodes
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
    from safetensors.torch import load_file

    import test_comfyui_sdxl as T

    import comfy.lora
    import comfy.utils
    from safetensors.torch import save_file


    # ComfyUI's unet_config terms for a diffusers config: per-resnet transformer depths,
    # input side in order, output side as ComfyUI lists it (shallow to deep)
    def comfy_unet_config(cfg):
        blocks = len(cfg["block_out_channels"])
        layers = cfg["layers_per_block"]
        tl = cfg.get("transformer_layers_per_block", 1)
        tl = [tl] * blocks if isinstance(tl, int) else list(tl)
        down = cfg.get("down_block_types")
        depth, depth_out = [], []
        for b in range(blocks):
            depth += [tl[b] if "CrossAttn" in down[b] else 0] * layers
            depth_out += [tl[b] if "CrossAttn" in down[b] else 0] * (layers + 1)
        return {"num_res_blocks": [layers] * blocks, "channel_mult": [1] * blocks, "transformer_depth": depth,
                "transformer_depth_output": depth_out, "transformer_depth_middle": tl[-1]}

    def sgm_map(cfg, unet):
        names = comfy.utils.unet_to_diffusers(comfy_unet_config(cfg))
        out = {}
        for name, module in unet.named_modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                sgm = names.get(name + ".weight")
                out[name] = sgm[:-len(".weight")] if sgm else None
        return out

    tiny_cfg = {k: v for k, v in json.loads((TINY_XL / "unet/config.json").read_text()).items() if not k.startswith("_")}
    tiny_unet = UNet2DConditionModel(**tiny_cfg)
    tiny_sgm = sgm_map(tiny_cfg, tiny_unet)
    diffusers_of = {sgm: name for name, sgm in tiny_sgm.items() if sgm}

    if args.make_lora:
        g = torch.Generator().manual_seed(20261203)
        modules = dict(tiny_unet.named_modules())
        from transformers import CLIPTextModel, CLIPTextModelWithProjection
        te = {"lora_te1_": CLIPTextModel.from_pretrained(str(TINY_XL / "text_encoder")),
              "lora_te2_": CLIPTextModelWithProjection.from_pretrained(str(TINY_XL / "text_encoder_2"))}
        rows = [("lora_unet_" + sgm.replace(".", "_"), modules[diffusers_of[sgm]].weight) for sgm in T.LORA_UNET_SGM]
        rows += [(prefix + "text_model_" + name.replace(".", "_"),
                  dict(getattr(te[prefix], "text_model", te[prefix]).named_modules())[name].weight)
                 for prefix, name in T.LORA_TE]
        tensors = {}
        for key, weight in rows:
            if weight.ndim == 4:
                down = torch.randn(4, weight.shape[1], weight.shape[2], weight.shape[3], generator=g) * 0.1
                up = torch.randn(weight.shape[0], 4, 1, 1, generator=g) * 0.1
            else:
                down = torch.randn(4, weight.shape[1], generator=g) * 0.1
                up = torch.randn(weight.shape[0], 4, generator=g) * 0.1
            tensors[key + ".lora_down.weight"] = down.contiguous()
            tensors[key + ".lora_up.weight"] = up.contiguous()
            tensors[key + ".alpha"] = torch.tensor(2.0)
        T.LORA.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(T.LORA), metadata={"ss_output_name": "comfyui-tiny-sdxl", "ss_network_dim": "4",
                                                  "ss_network_alpha": "2.0", "ss_base_model_version": "sdxl_base_v1-0"})
    lora_dir = tempfile.mkdtemp(prefix="comfy-sdxl-loras-")
    (Path(lora_dir) / T.LORA_NAME).write_bytes(T.LORA.read_bytes())
    folder_paths.add_model_folder_path("loras", lora_dir)
    original_keys_unet = comfy.lora.model_lora_keys_unet

    def keys_unet_for_standin(model, key_map={}):
        key_map = original_keys_unet(model, key_map)
        if isinstance(model, comfy.model_base.SDXL):
            for sgm, name in diffusers_of.items():
                key_map["lora_unet_" + sgm.replace(".", "_")] = f"diffusion_model.inner.{name}.weight"
        return key_map

    comfy.lora.model_lora_keys_unet = keys_unet_for_standin

    sgm_cases = [{"label": "tiny-sdxl", "diffusers_config": tiny_cfg, "names": tiny_sgm}]
    for label, cfg in (
            ("sdxl-shaped", dict(block_out_channels=[8, 16, 32], layers_per_block=2,
                                 down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                                 up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                                 transformer_layers_per_block=[1, 2, 3], norm_num_groups=8, attention_head_dim=[2, 4, 8],
                                 cross_attention_dim=16, addition_embed_type="text_time", addition_time_embed_dim=4,
                                 projection_class_embeddings_input_dim=32, use_linear_projection=True)),
            ("sd15-shaped", dict(block_out_channels=[8, 16, 32, 32], layers_per_block=2, norm_num_groups=8,
                                 attention_head_dim=2, cross_attention_dim=16,
                                 down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                                   "CrossAttnDownBlock2D", "DownBlock2D"],
                                 up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                                 "CrossAttnUpBlock2D"]))):
        sgm_cases.append({"label": label, "diffusers_config": cfg, "names": sgm_map(cfg, UNet2DConditionModel(**cfg))})

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

    # graphs, through the shared driver with the SDXL checkpoints above
    driver.checkpoint = checkpoint
    driver.classes.update(CLIPTextEncodeSDXL=CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner=CLIPTextEncodeSDXLRefiner,
                          LoraLoader=nodes.LoraLoader)
    run = driver.run

    graphs = {}
    for name, graph in T.GRAPHS.items():
        values = run(graph)
        latents = [T.summarise_latent(values[n][i]["samples"].float()) for n, i in T.LATENT_OUTPUTS[name]]
        graphs[name] = {"graph": graph, "latents": latents, "pixels": T.summarise_pixels(values["9"][0])}
        print(name, [lat["sha256"][:12] for lat in latents], graphs[name]["pixels"]["sha256"][:12], flush=True)

    plain = json.loads(json.dumps(T.GRAPHS["lora"]))
    plain["10"]["inputs"].update(strength_model=0.0, strength_clip=0.0)
    without = T.summarise_pixels(run(plain)["9"][0])["sha256"]
    import hashlib
    out = {"comfyui_commit": T.COMFYUI_COMMIT, "torch": torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(torch),
           "lora_fixture": {"path": str(T.LORA.relative_to(REPO)), "bytes": T.LORA.stat().st_size,
                            "sha256": hashlib.sha256(T.LORA.read_bytes()).hexdigest()},
           "lora_check": {"without_lora_pixels_sha256": without}, "sgm_names": sgm_cases,
           "text": text, "adm": adm_cases, "refiner_text": refiner_text, "refiner_adm": refiner_adm,
           "graphs": graphs}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(text)} text cases, {len(adm_cases)} adm cases, {len(graphs)} graphs -> {args.out}")


if __name__ == "__main__":
    main()
