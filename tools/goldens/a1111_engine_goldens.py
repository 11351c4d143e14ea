"""Write tests/goldens/a1111/engine.json: end-to-end A1111 v1.10.1 generations on tiny-sd,
made by A1111's own processing and sampling code.

    python tools/goldens/a1111_engine_goldens.py --a1111 <checkout> --kdiffusion <k-diffusion dir> \
        --lark-site <dir with lark 1.1.2> --commit <hash> --out tests/goldens/a1111/engine.json \
        --lora-in tests/fixtures/lora/tiny_sd_random.safetensors

(--lora-out PATH instead writes the seeded random LoRA to PATH and uses it: the same tensors and
metadata as the committed fixture, but safetensors orders the metadata keys at random, so its bytes
and sha256 vary between runs; --lora-in keeps the fixture and the golden's sha256 of it.)

What runs is A1111's, unchanged, from the checkout (imported or, where the module that holds
it imports half of the webui, its definitions compiled from the file):
- modules/processing.py: StableDiffusionProcessingTxt2Img.init, .calculate_target_resolution,
  .sample, .sample_hr_pass, .calculate_hr_conds; StableDiffusionProcessing.setup_conds,
  .get_conds_with_caching, .cached_params, .txt2img_image_conditioning; txt2img_image_conditioning,
  decode_latent_batch, DecodedSamples (compiled);
- modules/rng.py + rng_philox.py (ImageRNG), prompt_parser.py, sd_hijack_clip.py (through
  tools/goldens/a1111_conditioning_goldens.build), sd_samplers_common.py (its torchsde patch
  included), sd_samplers_cfg_denoiser.py, sd_samplers_kdiffusion.py, sd_samplers_timesteps.py,
  sd_samplers_timesteps_impl.py, sd_schedulers.py (imported), sd_samplers.py create_sampler /
  find_sampler_config (compiled), shared.py latent_upscale_modes (the assignment compiled);
- extensions-builtin/Lora: lyco_helpers.py (imported), network.py NetworkModule.finalize_updown /
  calc_scale / multiplier and network_lora.py NetworkModuleLora.create_module / calc_updown (compiled);
- k-diffusion v0.0.16 (the commit A1111 pins) for the samplers and CompVisDenoiser.

Written here, as stand-ins for what A1111 gets from its LDM model and webui loop:
- the model object: LDM's LatentDiffusion calls in a few lines (apply_model -> the diffusers UNet
  with the crossattn conditioning concatenated on dim 1; decode_first_stage -> 1/scale_factor * z
  through the diffusers VAE; the LDM float64-then-float32 alphas_cumprod);
- the part of process_images_inner that drives one batch (seeds, ImageRNG, setup_conds, sample,
  decode, clamp, 255 * x, astype(uint8)), Txt2Img.get_conds/setup_conds without their super() call,
  and the LoRA merge line of networks.network_apply_weights (weight + updown);
- opt_f = 2: A1111 hard-codes 8, the factor of SD's VAE; tiny-sd's VAE has one down block.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
TINY_SD = ROOT / "registry" / "embedded" / "tiny-sd"

import a1111_conditioning_goldens as condgold  # noqa: E402

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

OPTS = dict(
    randn_source="CPU", eta_noise_seed_delta=0, sd_vae_decode_method="Full", sd_vae_encode_method="Full",
    enable_quantization=False, always_discard_next_to_last_sigma=False, use_old_karras_scheduler_sigmas=False,
    sigma_min=0.0, sigma_max=0.0, rho=0.0, beta_dist_alpha=0.6, beta_dist_beta=0.6, sgm_noise_multiplier=False,
    img2img_extra_noise=0.0, no_dpmpp_sde_batch_determinism=False, skip_early_cond=0.0, s_min_uncond_all=False,
    pad_cond_uncond=False, pad_cond_uncond_v0=False, batch_cond_uncond=True, live_preview_content="Prompt",
    eta_ancestral=1.0, eta_ddim=0.0, s_churn=0.0, s_tmin=0.0, s_tmax=0.0, s_noise=1.0, use_old_scheduling=False,
    img2img_fix_steps=False, inpainting_mask_weight=1.0, persistent_cond_cache=True, sdxl_crop_left=0,
    sdxl_crop_top=0, fp8_storage="Disable", cache_fp16_weight=False, show_progress_type="Approx NN",
    live_previews_enable=False, live_preview_fast_interrupt=False, show_progress_every_n_steps=10,
    uni_pc_variant="bh1", uni_pc_skip_type="time_uniform", uni_pc_order=3, uni_pc_lower_order_final=True,
    save_images_before_highres_fix=False, hires_fix_use_firstpass_conds=False, token_merging_ratio=0.0,
    token_merging_ratio_hr=0.0, use_old_hires_fix_width_height=False, sd_noise_schedule="Default",
    use_downcasted_alpha_bar=False, hide_samplers=[], refiner_switch_by_sample_steps=False,
    s_min_uncond=0.0,
)

PROMPT = "a red cat sitting on a wooden chair, (masterpiece:1.2), [blurry]"
# tiny-sd's CLIP ends in a layer norm with bias 0, so the chunk mean that "Original" emphasis
# restores is rounding noise: it can be exactly 0 (0/0) or become 0 after the multipliers (x/0),
# and the latents NaN, which A1111 refuses.  Under portable CPU numerics the texts here (and the
# editing prompt below) are finite in every case that uses them: clip skip 1 and 2, with the
# LoRA at 0.8 and 0.4.  Before that profile the negative was "lowres, (ugly:1.1)" and the editing
# prompt said "garden" for "park"; under it both give NaN.
NEGATIVE = "lowres, (ugly:1.25)"

# Each case: the A1111Params fields the engine gets (the golden tool maps them onto A1111's p).
CASES = [
    dict(name="euler_a_cfg7", sampler="Euler a", steps=10, cfg_scale=7.0, seed=1234),
    dict(name="euler_a_cfg5_nv_ensd_batch2", sampler="Euler a", steps=10, cfg_scale=5.0, seed=77, rng_source="NV",
         ensd=31337, batch_size=2, batch_index=1),
    dict(name="dpmpp_2m_karras_cfg7_editing", sampler="DPM++ 2M", schedule_type="Karras", steps=12, cfg_scale=7.0,
         seed=4242, prompt="a [cat:dog:5] in a park, BREAK sunny day"),
    dict(name="dpmpp_2m_karras_cfg5_and", sampler="DPM++ 2M", schedule_type="Karras", steps=10, cfg_scale=5.0,
         seed=99, prompt="a red cat :1.2 AND a blue sky :0.6 AND [green|yellow] grass"),
    dict(name="dpmpp_sde_cfg7", sampler="DPM++ SDE", steps=6, cfg_scale=7.0, seed=1234),
    dict(name="dpmpp_sde_cfg5_nv", sampler="DPM++ SDE", steps=6, cfg_scale=5.0, seed=2024, rng_source="NV"),
    dict(name="ddim_cfg7", sampler="DDIM", steps=10, cfg_scale=7.0, seed=31337),
    dict(name="ddim_cfg5_eta", sampler="DDIM", steps=10, cfg_scale=5.0, seed=8, eta=0.5, ensd=5),
    dict(name="euler_cfg7_ngms_clipskip2", sampler="Euler", steps=10, cfg_scale=7.0, seed=5, ngms=4.0, clip_skip=2),
    dict(name="euler_a_cfg5_variation", sampler="Euler a", steps=8, cfg_scale=5.0, seed=5, subseed=77,
         subseed_strength=0.3),
    dict(name="hires_latent_euler_a", sampler="Euler a", steps=8, cfg_scale=7.0, seed=1234, enable_hr=True,
         hr_upscaler="Latent", hr_scale=2.0, denoising_strength=0.55, hr_steps=6),
    dict(name="hires_latent_bicubic_aa_dpmpp2m_hrprompt", sampler="Euler a", steps=6, cfg_scale=5.0, seed=11,
         enable_hr=True, hr_upscaler="Latent (bicubic antialiased)", hr_scale=1.5, denoising_strength=0.6,
         hr_sampler="DPM++ 2M", hr_schedule_type="Karras", hr_prompt="a red cat, highly detailed"),
    dict(name="heun_cfg5_editing_step_multiplier", sampler="Heun", steps=5, cfg_scale=5.0, seed=21,
         prompt="a [cat:dog:0.5] on a [red:blue:3] sofa"),
    dict(name="dpmpp_2m_sde_cfg7", sampler="DPM++ 2M SDE", steps=6, cfg_scale=7.0, seed=606),
    dict(name="unipc_cfg5", sampler="UniPC", steps=6, cfg_scale=5.0, seed=707),
    dict(name="euler_a_cfg7_seed_resize", sampler="Euler a", steps=6, cfg_scale=7.0, seed=808,
         seed_resize_from=[48, 40]),
    dict(name="hires_ddim_nearest_exact_resize_crop", sampler="DDIM", steps=6, cfg_scale=7.0, seed=909,
         enable_hr=True, hr_upscaler="Latent (nearest-exact)", hr_resize=[96, 80], denoising_strength=0.5),
    dict(name="hires_sde_nearest_variation_batch2", sampler="Euler a", steps=4, cfg_scale=5.0, seed=1001,
         subseed=9, subseed_strength=0.5, batch_size=2, batch_index=0, enable_hr=True,
         hr_upscaler="Latent (nearest)", hr_scale=1.25, denoising_strength=0.7, hr_sampler="DPM++ SDE",
         hr_steps=3),
    dict(name="euler_a_downcast_alphas", sampler="Euler a", steps=8, cfg_scale=7.0, seed=1234,
         downcast_alphas_cumprod=True),
    dict(name="dpmpp_2m_karras_downcast_alphas", sampler="DPM++ 2M", schedule_type="Karras", steps=8, cfg_scale=7.0,
         seed=1234, downcast_alphas_cumprod=True),
    dict(name="ddim_downcast_alphas", sampler="DDIM", steps=8, cfg_scale=7.0, seed=1234, downcast_alphas_cumprod=True),
    dict(name="lora_dpmpp_2m_karras", sampler="DPM++ 2M", schedule_type="Karras", steps=8, cfg_scale=7.0, seed=1234,
         prompt="a red cat <lora:tiny_sd_random:0.8>, masterpiece"),
    dict(name="lora_euler_a_weight_0_4", sampler="Euler a", steps=8, cfg_scale=5.0, seed=3,
         prompt="<lora:tiny_sd_random:0.4> a red cat"),
]
DEFAULTS = dict(prompt=PROMPT, negative_prompt=NEGATIVE, width=64, height=64, rng_source="CPU")
LORA_RANK = 4
LORA_ALPHA = 2.0


# -- A1111 definitions compiled from files ---------------------------------------------
def compile_assignment(path: Path, name: str, namespace: dict):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
            return
    raise SystemExit(f"{path}: no assignment to {name}")


def class_from(path: Path, class_name: str, names: set[str], namespace: dict, into: type):
    ns = dict(namespace)
    condgold.compile_definitions(path, names, ns, class_name=class_name)
    for name in names:
        setattr(into, name, ns[name])
        if name in namespace:  # a method named like a module-level function must not shadow it
            ns[name] = namespace[name]


# -- the environment --------------------------------------------------------------------
def build(checkout: str, kdiffusion: str, lark_site: str):
    import numpy as np
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from PIL import Image

    sys.path.insert(0, kdiffusion)
    sys.path.insert(0, str(Path(kdiffusion) / "stubs"))
    env = condgold.build(checkout, lark_site)
    shared, devices = sys.modules["modules.shared"], sys.modules["modules.devices"]
    package = sys.modules["modules"]
    env.opts.__dict__.update(OPTS)
    checkout_modules = Path(checkout).resolve() / "modules"

    devices.dtype = devices.dtype_vae = devices.dtype_unet = torch.float32
    devices.unet_needs_upcast = False
    devices.without_autocast = contextlib.nullcontext
    devices.test_for_nans = lambda x, where: None
    devices.torch_gc = lambda: None
    devices.NansException = type("NansException", (Exception,), {})
    state = types.SimpleNamespace(interrupted=False, skipped=False, stopping_generation=False, sampling_step=0,
                                  sampling_steps=0, current_latent=None, job_count=1, job="",
                                  processing_has_refined_job_count=False, nextjob=lambda: None)
    shared.state = state
    shared.total_tqdm = types.SimpleNamespace(update=lambda: None, updateTotal=lambda n: None)
    shared.parallel_processing_allowed = True
    compile_assignment(checkout_modules / "shared.py", "latent_upscale_modes", shared.__dict__)
    compile_assignment(checkout_modules / "shared.py", "latent_upscale_default_mode", shared.__dict__)
    shared.sd_upscalers = []

    callbacks = types.ModuleType("modules.script_callbacks")
    for cls in ("CFGDenoiserParams", "CFGDenoisedParams", "AfterCFGCallbackParams", "ExtraNoiseParams"):
        def init(self, *args, _fields=None):
            self.args = args
        callbacks.__dict__[cls] = type(cls, (), {"__init__": init})
    # A1111 hands these to extensions; with none installed they change nothing
    callbacks.CFGDenoiserParams.__init__ = lambda self, x, image_cond, sigma, sampling_step, total_sampling_steps, \
        text_cond, text_uncond, denoiser=None: self.__dict__.update(x=x, image_cond=image_cond, sigma=sigma,
                                                                      text_cond=text_cond, text_uncond=text_uncond)
    callbacks.CFGDenoisedParams.__init__ = lambda self, x, sampling_step, total_sampling_steps, inner_model: \
        self.__dict__.update(x=x)
    callbacks.AfterCFGCallbackParams.__init__ = lambda self, x, sampling_step, total_sampling_steps: \
        self.__dict__.update(x=x)
    for fn in ("cfg_denoiser_callback", "cfg_denoised_callback", "cfg_after_cfg_callback", "extra_noise_callback"):
        callbacks.__dict__[fn] = lambda params: None
    stubs = {"script_callbacks": callbacks}
    for name in ("images", "sd_vae_approx", "sd_vae_taesd", "sd_models", "sd_samplers", "lowvram", "extra_networks",
                 "errors", "sd_unet"):
        stubs.setdefault(name, types.ModuleType(f"modules.{name}"))
    stubs["sd_models"].SkipWritingToConfig = contextlib.nullcontext
    stubs["sd_models"].reload_model_weights = lambda *a, **k: None
    stubs["sd_models"].apply_token_merging = lambda *a, **k: None
    stubs["lowvram"].is_enabled = lambda model: False
    override_ns = {"opts": env.opts, "shared": shared, "torch": torch}
    condgold.compile_definitions(checkout_modules / "sd_models.py",
                                 {"apply_alpha_schedule_override", "rescale_zero_terminal_snr_abar"}, override_ns)
    stubs["sd_models"].apply_alpha_schedule_override = override_ns["apply_alpha_schedule_override"]
    for name, module in stubs.items():
        sys.modules[f"modules.{name}"] = module
        setattr(package, name, module)

    import k_diffusion  # noqa: F401
    rng = env.ref.module("rng")
    sd_samplers_common = env.ref.module("sd_samplers_common")
    env.ref.module("sd_schedulers")
    sd_samplers_kdiffusion = env.ref.module("sd_samplers_kdiffusion")
    sd_samplers_timesteps = env.ref.module("sd_samplers_timesteps")

    samplers_ns = {"all_samplers_map": {x.name: x for x in sd_samplers_kdiffusion.samplers_data_k_diffusion
                                        + sd_samplers_timesteps.samplers_data_timesteps},
                   "all_samplers": sd_samplers_kdiffusion.samplers_data_k_diffusion}
    condgold.compile_definitions(checkout_modules / "sd_samplers.py", {"find_sampler_config", "create_sampler"},
                                 samplers_ns)
    stubs["sd_samplers"].find_sampler_config = samplers_ns["find_sampler_config"]
    stubs["sd_samplers"].create_sampler = samplers_ns["create_sampler"]
    stubs["sd_samplers"].sample_to_image = lambda *a, **k: None

    # -- the model A1111 would have loaded (LDM calls, written here) --------------------
    unet = UNet2DConditionModel.from_pretrained(str(TINY_SD / "unet"), local_files_only=True).eval()
    vae = AutoencoderKL.from_pretrained(str(TINY_SD / "vae"), local_files_only=True).eval()
    config = json.loads((TINY_SD / "scheduler" / "scheduler_config.json").read_text())
    betas = torch.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, config["num_train_timesteps"],
                           dtype=torch.float64) ** 2
    alphas_cumprod = torch.tensor(np.cumprod(1.0 - betas.numpy(), axis=0), dtype=torch.float32)

    class LDMStandIn:
        parameterization = "eps"
        is_sdxl = False
        is_sdxl_inpaint = False
        cond_stage_key = "crossattn"
        latent_channels = 4
        sd_checkpoint_info = "tiny-sd"
        model = types.SimpleNamespace(conditioning_key="crossattn")
        scale_factor = float(vae.config.scaling_factor)

        def __init__(self):
            self.alphas_cumprod = alphas_cumprod
            self.alphas_cumprod_original = alphas_cumprod
            self.first_stage_model = vae
            self.cond_stage_model = env.clip
            self.unet = unet

        def get_learned_conditioning(self, texts):
            return self.cond_stage_model(texts)

        def apply_model(self, x, t, cond):
            context = torch.cat(cond["c_crossattn"], 1)
            return unet(x, t, encoder_hidden_states=context).sample

        def decode_first_stage(self, z):
            z = 1. / self.scale_factor * z
            return vae.decode(z).sample

    sd_model = LDMStandIn()
    shared.sd_model = sd_model
    shared.sd_model.cond_stage_model_empty_prompt = None

    # -- processing.py ------------------------------------------------------------------
    prompt_parser = env.prompt_parser
    processing_ns = {
        "torch": torch, "np": np, "Image": Image, "opts": env.opts, "shared": shared, "state": state,
        "devices": devices, "sd_samplers": stubs["sd_samplers"], "sd_models": stubs["sd_models"], "rng": rng,
        "prompt_parser": prompt_parser, "lowvram": stubs["lowvram"], "extra_networks": stubs["extra_networks"],
        "decode_first_stage": sd_samplers_common.decode_first_stage,
        "images_tensor_to_samples": sd_samplers_common.images_tensor_to_samples,
        "approximation_indexes": sd_samplers_common.approximation_indexes, "opt_f": 2, "opt_C": 4,
        "images": stubs["images"], "create_infotext": lambda *a, **k: "", "errors": stubs["errors"],
    }
    processing_file = checkout_modules / "processing.py"
    condgold.compile_definitions(processing_file, {"txt2img_image_conditioning", "decode_latent_batch",
                                                   "DecodedSamples"}, processing_ns)
    captured = {}
    real_decode = processing_ns["decode_latent_batch"]

    def decode_latent_batch(model, batch, target_device=None, check_for_nans=False):
        captured["latents"] = batch.detach().clone()
        return real_decode(model, batch, target_device=target_device, check_for_nans=check_for_nans)

    processing_ns["decode_latent_batch"] = decode_latent_batch

    class P:
        def save_samples(self):
            return False

        def get_conds(self):  # Txt2Img.get_conds, its super() call written out
            if self.is_hr_pass:
                return self.hr_c, self.hr_uc
            return self.c, self.uc

        def get_token_merging_ratio(self, for_hr=False):
            return 0.0

    class_from(processing_file, "StableDiffusionProcessing",
               {"setup_conds", "get_conds_with_caching", "cached_params", "txt2img_image_conditioning",
                "fill_fields_from_opts"},
               processing_ns, P)
    base_setup_conds = P.setup_conds
    class_from(processing_file, "StableDiffusionProcessingTxt2Img",
               {"init", "calculate_target_resolution", "sample", "sample_hr_pass", "calculate_hr_conds"},
               processing_ns, P)

    def setup_conds(self):  # Txt2Img.setup_conds without hires_fix_use_firstpass_conds / lowvram
        base_setup_conds(self)
        self.hr_uc = None
        self.hr_c = None

    P.setup_conds = setup_conds
    return types.SimpleNamespace(env=env, opts=env.opts, shared=shared, rng=rng, P=P, sd_model=sd_model,
                                 captured=captured, decode_latent_batch=decode_latent_batch, unet=unet, vae=vae, text_model=env.clip.wrapped.transformer.model,
                                 prompt_parser=prompt_parser, checkout=Path(checkout).resolve(), torch=torch, np=np)


# -- LoRA --------------------------------------------------------------------------------
LORA_TARGETS = [
    # kohya key stem, A1111 CompVis-side key (for its multiplier choice), diffusers module path
    ("lora_unet_down_blocks_1_attentions_0_proj_in", "diffusion_model_input_blocks_2_1_proj_in", "unet",
     "down_blocks.1.attentions.0.proj_in"),
    ("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q",
     "diffusion_model_input_blocks_2_1_transformer_blocks_0_attn1_to_q", "unet",
     "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"),
    ("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",
     "diffusion_model_input_blocks_2_1_transformer_blocks_0_attn2_to_k", "unet",
     "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_out_0",
     "diffusion_model_middle_block_1_transformer_blocks_0_attn2_to_out_0", "unet",
     "mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0"),
    ("lora_unet_up_blocks_0_attentions_0_transformer_blocks_0_ff_net_2",
     "diffusion_model_output_blocks_0_1_transformer_blocks_0_ff_net_2", "unet",
     "up_blocks.0.attentions.0.transformer_blocks.0.ff.net.2"),
    ("lora_unet_down_blocks_0_resnets_0_conv1", "diffusion_model_input_blocks_1_0_in_layers_2", "unet",
     "down_blocks.0.resnets.0.conv1"),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", "transformer_text_model_encoder_layers_0_self_attn_q_proj",
     "te", "encoder.layers.0.self_attn.q_proj"),
    ("lora_te_text_model_encoder_layers_1_mlp_fc1", "transformer_text_model_encoder_layers_1_mlp_fc1", "te",
     "encoder.layers.1.mlp.fc1"),
]


def module_at(root, path: str):
    module = root
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


LORA_METADATA = {"ss_output_name": "tiny_sd_random", "ss_network_dim": str(LORA_RANK),
                 "ss_network_alpha": str(LORA_ALPHA)}


def make_lora(ctx, out: Path | None) -> dict:
    """A random rank-4 LoRA for tiny-sd (kohya naming, alpha 2), written with safetensors
    (unless `out` is None).  safetensors writes the metadata keys in a per-process random
    order, so the file's bytes vary between runs; its tensors and metadata do not."""
    import safetensors.torch
    torch = ctx.torch
    generator = torch.Generator().manual_seed(20261201)
    tensors = {}
    for key, _compvis, part, path in LORA_TARGETS:
        module = module_at(ctx.unet if part == "unet" else ctx.text_model, path)
        weight = module.weight
        if weight.dim() == 4:
            down = torch.randn((LORA_RANK, weight.shape[1]) + tuple(weight.shape[2:]), generator=generator)
            up = torch.randn((weight.shape[0], LORA_RANK, 1, 1), generator=generator)
        else:
            down = torch.randn((LORA_RANK, weight.shape[1]), generator=generator)
            up = torch.randn((weight.shape[0], LORA_RANK), generator=generator)
        tensors[f"{key}.lora_down.weight"] = (down * 0.1).contiguous()
        tensors[f"{key}.lora_up.weight"] = (up * 0.05).contiguous()
        tensors[f"{key}.alpha"] = torch.tensor(LORA_ALPHA)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file(tensors, str(out), metadata=LORA_METADATA)
    return tensors


def load_lora(ctx, path: Path) -> dict:
    """An existing LoRA file (the committed fixture) as the input, after checking that it
    holds exactly the tensors and metadata `make_lora` makes."""
    import safetensors
    torch = ctx.torch
    expected = make_lora(ctx, None)
    with safetensors.safe_open(str(path), "pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    same = (metadata == LORA_METADATA and sorted(tensors) == sorted(expected)
            and all(tensors[k].dtype == expected[k].dtype and torch.equal(tensors[k], expected[k]) for k in expected))
    if not same:
        raise SystemExit(f"{path}: not the seeded LoRA of make_lora (tensors or metadata differ); "
                         "write a new one with --lora-out")
    return tensors


@contextlib.contextmanager
def a1111_lora(ctx, tensors: dict, multiplier: float):
    """A1111's NetworkModuleLora.calc_updown (+ finalize_updown, calc_scale, multiplier) per module,
    then the merge of network_apply_weights, with te_multiplier = unet_multiplier = multiplier."""
    torch = ctx.torch
    lora_dir = ctx.checkout / "extensions-builtin" / "Lora"
    sys.path.insert(0, str(lora_dir))
    import lyco_helpers

    mmdit = types.SimpleNamespace(QkvLinear=type("QkvLinear", (torch.nn.Linear,), {}))
    modules_ns = types.SimpleNamespace(models=types.SimpleNamespace(sd3=types.SimpleNamespace(mmdit=mmdit)))
    ns = {"torch": torch, "lyco_helpers": lyco_helpers, "modules": modules_ns, "devices": sys.modules["modules.devices"]}

    class Module:
        pass

    class_from(lora_dir / "network.py", "NetworkModule", {"finalize_updown", "calc_scale", "multiplier"}, ns, Module)
    class_from(lora_dir / "network_lora.py", "NetworkModuleLora", {"create_module", "calc_updown"}, ns, Module)
    backups = []
    with torch.no_grad():
        for key, compvis, part, path in LORA_TARGETS:
            sd_module = module_at(ctx.unet if part == "unet" else ctx.text_model, path)
            m = Module()
            m.sd_module, m.sd_key = sd_module, compvis
            m.network = types.SimpleNamespace(te_multiplier=multiplier, unet_multiplier=multiplier, dyn_dim=None)
            w = {"lora_up.weight": tensors[f"{key}.lora_up.weight"], "lora_down.weight": tensors[f"{key}.lora_down.weight"]}
            m.up_model = m.create_module(w, "lora_up.weight")
            m.down_model = m.create_module(w, "lora_down.weight")
            m.mid_model = None
            m.dim = w["lora_down.weight"].shape[0]
            m.alpha, m.scale, m.bias, m.dora_scale = float(tensors[f"{key}.alpha"].item()), None, None, None
            weight = sd_module.weight
            backups.append((sd_module, weight.detach().clone()))
            updown, _ex_bias = m.calc_updown(weight)
            weight.copy_((weight.to(dtype=updown.dtype) + updown).to(dtype=weight.dtype))
    try:
        yield
    finally:
        with torch.no_grad():
            for module, original in backups:
                module.weight.copy_(original)


# -- one case ------------------------------------------------------------------------------
def run_case(ctx, case: dict, lora_tensors: dict | None):
    import re
    torch, np = ctx.torch, ctx.np
    c = {**DEFAULTS, **case}
    opts = ctx.opts
    opts.randn_source = c.get("rng_source", "CPU")
    opts.eta_noise_seed_delta = c.get("ensd", 0)
    opts.CLIP_stop_at_last_layers = c.get("clip_skip", 1)
    opts.use_downcasted_alpha_bar = bool(c.get("downcast_alphas_cumprod", False))
    ctx.env.hijack.extra_generation_params = {}

    prompt = c["prompt"]
    multiplier = None
    match = re.search(r"<lora:[^:>]+:([^>]+)>", prompt)
    if match:
        multiplier = float(match.group(1))
        prompt = re.sub(r"<(\w+):([^>]+)>", "", prompt)  # what extra_networks.parse_prompts leaves

    batch = c.get("batch_size", 1)
    index = c.get("batch_index", 0)
    strength = c.get("subseed_strength", 0.0)
    step = 1 if strength == 0 else 0
    # "Seed resize from" is in pixels; A1111's ImageRNG takes h // 8, SD's VAE factor.  For
    # tiny-sd (factor 2) the pixels are given x4, so the resized noise is h // 2 latent cells.
    resize_w, resize_h = (v * 4 for v in c.get("seed_resize_from", [0, 0]))
    p = ctx.P()
    p.__dict__.update(
        sd_model=ctx.sd_model, sampler_name=c["sampler"], scheduler=c.get("schedule_type", "Automatic"),
        hr_scheduler=c.get("hr_schedule_type"), is_hr_pass=False, steps=c["steps"], cfg_scale=c["cfg_scale"],
        width=c["width"], height=c["height"], batch_size=batch, n_iter=1, iteration=0,
        subseed_strength=strength, seed_resize_from_h=resize_h, seed_resize_from_w=resize_w, enable_hr=c.get("enable_hr", False),
        denoising_strength=c.get("denoising_strength", 0.75), hr_scale=c.get("hr_scale", 2.0),
        hr_upscaler=c.get("hr_upscaler"), hr_second_pass_steps=c.get("hr_steps", 0), hr_resize_x=c.get("hr_resize", [0, 0])[0],
        hr_resize_y=c.get("hr_resize", [0, 0])[1],
        hr_checkpoint_name=None, hr_checkpoint_info=None, hr_sampler_name=c.get("hr_sampler"),
        firstpass_image=None, scripts=None, extra_generation_params={}, sampler_noise_scheduler_override=None,
        eta=c.get("eta"), s_min_uncond=c.get("ngms", 0.0), s_churn=None, s_tmin=None, s_tmax=None, s_noise=None,
        cached_uc=[None, None], cached_c=[None, None], cached_hr_uc=[None, None], cached_hr_c=[None, None],
        extra_network_data=None, hr_extra_network_data=None, disable_extra_networks=True,
        token_merging_ratio=0, token_merging_ratio_hr=0, applied_old_hires_behavior_to=None,
        truncate_x=0, truncate_y=0, hr_upscale_to_x=0, hr_upscale_to_y=0, latent_scale_mode=None,
        is_using_inpainting_conditioning=False, firstpass_steps=None, refiner_switch_at=None,
        refiner_checkpoint_info=None,
    )
    base_seed = c["seed"] - step * index
    base_subseed = c.get("subseed", 0) - index
    p.all_seeds = [base_seed + step * i for i in range(batch)]
    p.all_subseeds = [base_subseed + i for i in range(batch)]
    p.seeds, p.subseeds = p.all_seeds, p.all_subseeds
    p.prompts = [prompt] * batch
    p.negative_prompts = [c["negative_prompt"]] * batch
    p.all_prompts, p.all_negative_prompts = p.prompts, p.negative_prompts
    hr_prompt = c.get("hr_prompt") or prompt
    p.hr_prompts = p.all_hr_prompts = [hr_prompt] * batch
    p.hr_negative_prompts = p.all_hr_negative_prompts = [c["negative_prompt"]] * batch
    p.hr_prompt, p.hr_negative_prompt = hr_prompt, c["negative_prompt"]

    ctx.captured.clear()
    cm = a1111_lora(ctx, lora_tensors, multiplier) if multiplier is not None else contextlib.nullcontext()
    with torch.no_grad(), cm:
        p.fill_fields_from_opts()
        p.init(p.all_prompts, p.all_seeds, p.all_subseeds)
        p.rng = ctx.rng.ImageRNG((4, p.height // 2, p.width // 2), p.seeds, subseeds=p.subseeds,
                                 subseed_strength=p.subseed_strength, seed_resize_from_h=p.seed_resize_from_h,
                                 seed_resize_from_w=p.seed_resize_from_w)
        p.setup_conds()
        stubs_models = sys.modules["modules.sd_models"]
        stubs_models.apply_alpha_schedule_override(p.sd_model, p)
        samples = p.sample(conditioning=p.c, unconditional_conditioning=p.uc, seeds=p.seeds, subseeds=p.subseeds,
                           subseed_strength=p.subseed_strength, prompts=p.prompts)
        if getattr(samples, "already_decoded", False):
            decoded = samples
        else:
            decoded = ctx.decode_latent_batch(ctx.sd_model, samples, target_device=ctx.torch.device("cpu"),
                                              check_for_nans=True)
        x = torch.stack(decoded).float()
        x = torch.clamp((x + 1.0) / 2.0, min=0.0, max=1.0)
        images = [(255. * np.moveaxis(s.cpu().numpy(), 0, 2)).astype(np.uint8) for s in x]
    latents = ctx.captured["latents"]
    infotext = {k: v for k, v in p.extra_generation_params.items() if not callable(v) and v is not None}
    return latents, images, infotext


def summary(latents, images, index: int) -> dict:
    import numpy as np
    lat = np.ascontiguousarray(latents.detach().cpu().numpy(), dtype="<f4")
    flat = lat.reshape(-1)
    image = images[index]
    pflat = image.reshape(-1)
    probes = [int(i * (flat.size - 1) / 63) for i in range(64)]
    pprobes = [int(i * (pflat.size - 1) / 63) for i in range(64)]
    return {
        "latent_shape": list(lat.shape), "latent_sha256": hashlib.sha256(lat.tobytes()).hexdigest(),
        "latent_max_abs": float(np.abs(flat).max()).hex(), "latent_sum": float(flat.astype("float64").sum()).hex(),
        "latent_probes": {str(i): float(flat[i]).hex() for i in probes},
        "pixels_shape": list(image.shape), "pixels_sha256": hashlib.sha256(image.tobytes()).hexdigest(),
        "pixels_sum": int(pflat.astype("int64").sum()), "pixel_probes": {str(i): int(pflat[i]) for i in pprobes},
        "all_pixels_sha256": [hashlib.sha256(im.tobytes()).hexdigest() for im in images],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a1111", required=True)
    ap.add_argument("--kdiffusion", required=True)
    ap.add_argument("--lark-site", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--out", required=True)
    lora = ap.add_mutually_exclusive_group(required=True)
    lora.add_argument("--lora-out", help="write the seeded random LoRA here and use it")
    lora.add_argument("--lora-in", help="use this LoRA file (e.g. the committed fixture), checked to be the seeded one")
    args = ap.parse_args()

    import numpy
    import torch
    import diffusers
    import transformers

    torch.set_num_threads(1)
    ctx = build(args.a1111, args.kdiffusion, args.lark_site)
    lora_path = Path(args.lora_in or args.lora_out)
    lora_tensors = load_lora(ctx, lora_path) if args.lora_in else make_lora(ctx, lora_path)
    results = []
    for case in CASES:
        latents, images, infotext = run_case(ctx, case, lora_tensors)
        entry = {"name": case["name"], "params": {**DEFAULTS, **{k: v for k, v in case.items() if k != "name"}},
                 "a1111_infotext_extras": infotext, **summary(latents, images, case.get("batch_index", 0))}
        results.append(entry)
        print(case["name"], entry["pixels_sha256"][:12], entry["latent_max_abs"], infotext, flush=True)
    lora_file = lora_path.read_bytes()
    out = {
        "source": {"repository": "https://github.com/AUTOMATIC1111/stable-diffusion-webui (fork kklouzal/stable-diffusion-webui)",
                   "tag": "v1.10.1", "commit": args.commit, "k_diffusion": "v0.0.16 ab527a9a6d347f364e3d185ba6d714e22d80cb3c",
                   "tool": "tools/goldens/a1111_engine_goldens.py"},
        "versions": {"torch": torch.__version__, "numpy": numpy.__version__, "diffusers": diffusers.__version__,
                     "transformers": transformers.__version__, "threads": 1},
        "numerics": _numerics.describe(torch),
        "lora_fixture": {"path": str(lora_path.as_posix()), "sha256": hashlib.sha256(lora_file).hexdigest(),
                         "rank": LORA_RANK, "alpha": LORA_ALPHA, "seed": 20261201},
        "cases": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
