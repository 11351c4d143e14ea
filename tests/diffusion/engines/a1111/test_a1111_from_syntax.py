"""Regeneration dispatch by generation semantics (spec §7.1.1) and the syntax -> A1111Params
adapter (aigif/diffusion/engines/a1111/from_syntax.py): what each field and extension
becomes, and the refusals that name what cannot be honoured."""

from __future__ import annotations

import pytest

import aigif
from aigif.defaults import resolve
from aigif.errors import ModelUnavailable, UnsupportedFeature

pytest.importorskip("torch")
from aigif.diffusion import dispatch  # noqa: E402
from aigif.diffusion.engines.a1111 import from_syntax  # noqa: E402


def _resolved(**d):
    base = {"prompt": "a red cat", "seed": 5, "steps": 7, "guidance": 6.5, "width": 64, "height": 64, "scheduler": "euler_a"}
    ext = d.pop("extensions", {})
    base.update(d)
    base["extensions"] = {"semantics": {"engine": "a1111"}, **ext}
    return resolve(aigif.from_dict(base))


def test_fields_and_extensions_become_a1111_params():
    r = _resolved(
        scheduler="dpmpp_2m_karras",
        prompt="a cat <lora:fluffy:0.7>",
        extensions={
            "semantics": {"engine": "a1111", "version": "v1.6.0", "options": {"Schedule type": "Exponential", "NGMS": 2, "Pad conds": "True", "Seed resize from": "48x40", "Hires sampler": "DPM++ 2M"}},
            "rng": {"source": "nv", "ensd": 31337}, "variation": {"seed": 9, "strength": 0.25}, "batch": {"size": 3, "index": 2},
            "clip_skip": 2, "eta": 0.5, "vae": {"name": "vae-ft-mse", "hash": "735e4c3a"},
            "lora": [{"name": "fluffy", "weight": 0.7, "hash": "abcdef012345"}],
            "hires": {"scale": 1.5, "steps": 4, "denoise": 0.45, "upscaler": "Latent", "scheduler": "euler"},
            "source": {"tool": "a1111"}, "comment": "ancillary: ignored",
        },
    )
    p = from_syntax.to_params(r)
    assert (p.sampler, p.schedule_type, p.cfg_scale, p.seed, p.steps) == ("DPM++ 2M", "Exponential", 6.5, 5, 7)
    assert (p.rng_source, p.ensd, p.subseed, p.subseed_strength, p.batch_size, p.batch_index) == ("NV", 31337, 9, 0.25, 3, 2)
    assert (p.clip_skip, p.eta, p.vae, p.vae_hash, p.version) == (2, 0.5, "vae-ft-mse", "735e4c3a", "v1.6.0")
    assert (p.ngms, p.pad_conds, p.seed_resize_from) == (2.0, True, (48, 40))
    assert p.lora_hashes == {"fluffy": "abcdef012345"} and p.loras == []
    assert (p.enable_hr, p.hr_scale, p.hr_steps, p.denoising_strength, p.hr_upscaler) == (True, 1.5, 4, 0.45, "Latent")
    assert (p.hr_sampler, p.hr_schedule_type) == ("DPM++ 2M", "Uniform")  # the option wins over the hires scheduler's sampler


def test_absent_rng_is_a1111_gpu_default():
    p = from_syntax.to_params(_resolved())
    assert p.rng_source is None and p.ensd == 0
    assert (p.sampler, p.schedule_type) == ("Euler a", "Uniform")


@pytest.mark.parametrize(
    "extensions, named",
    [
        ({"refiner": {"model": "x"}}, "refiner"),
        ({"img2img": {"strength": 0.5}}, "img2img"),
        ({"pipeline_args": {"guidance_rescale": 0.7}}, "pipeline_args"),
        ({"semantics": {"engine": "a1111", "options": {"Frobnicate": 1}}}, "Frobnicate"),
        ({"hires": {"scale": 2, "cfg": 3}}, "cfg"),
        ({"rng": {"source": "tpu"}}, "tpu"),
        ({"lora": [{"name": "ghost", "weight": 1}]}, "ghost"),
    ],
)
def test_refusals_name_what_cannot_be_honoured(extensions, named):
    with pytest.raises(UnsupportedFeature) as info:
        from_syntax.to_params(_resolved(extensions=extensions))
    assert named in str(info.value)


def test_a_scheduler_without_an_a1111_sampler_is_refused():
    with pytest.raises(UnsupportedFeature, match="names no A1111 sampler"):
        from_syntax.to_params(_resolved(scheduler="unipc_flow" if _has("unipc_flow") else "euler_flow"))


def _has(name):
    from aigif.registry import get_registry

    return get_registry().find_scheduler(name) is not None


def test_unknown_engine_is_refused_naming_it():
    r = resolve(aigif.from_dict({"prompt": "x", "extensions": {"semantics": {"engine": "novelai"}}}))
    with pytest.raises(UnsupportedFeature, match="novelai"):
        dispatch.generate(r)


def test_diffusers_semantics_options_are_refused():
    r = resolve(aigif.from_dict({"prompt": "x", "extensions": {"semantics": {"engine": "diffusers", "options": {"karras": True}}}}))
    with pytest.raises(UnsupportedFeature, match="karras"):
        dispatch.generate(r)


def test_missing_inputs_are_all_named(tmp_path):
    r = _resolved(prompt="a <lora:one:1> <lora:two:0.5>", extensions={"vae": {"name": "myvae"}, "embeddings": [{"name": "easyneg"}]})
    missing = dispatch.missing_inputs(r, lora_dir=tmp_path)
    text = " ".join(missing)
    assert "'one'" in text and "'two'" in text and "myvae" in text and "easyneg" in text
    with pytest.raises(ModelUnavailable) as info:
        from_syntax.generate(r, lora_dir=tmp_path)
    assert "'one'" in str(info.value) and info.value.exit_status == 6
