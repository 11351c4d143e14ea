"""aigif.importers.schedulers: the one sampler-name mapping every tool parser uses."""

from __future__ import annotations

import io

from aigif.importers import import_image
from aigif.importers.draft import Draft
from aigif.importers.schedulers import map_scheduler
from aigif.registry import get_registry


def _name(dialect, sampler, schedule=None):
    m = map_scheduler(get_registry(), dialect, sampler, schedule)
    return None if m is None or m.entry is None else m.entry.name


def test_each_dialect_names_the_same_scheduler():
    reg = get_registry()
    karras = reg.scheduler_from_tool("comfyui", "euler_ancestral", "karras").name
    assert _name("a1111", "euler_ancestral_karras") == karras  # a ComfyUI save node's A1111 text
    plain = reg.scheduler_from_tool("comfyui", "euler_ancestral").name
    assert _name("comfyui", "sample_euler_ancestral") == plain  # early ComfyUI names
    assert _name("invoke2", "k_euler_a") == reg.scheduler_from_tool("invokeai", "euler_a").name
    assert _name("diffusers", "EulerDiscreteScheduler") == reg.scheduler_from_tool("diffusers", "EulerDiscreteScheduler").name
    assert _name("a1111", plain) == plain  # AIGIF's own canonical name


def test_gpu_variant_maps_to_its_sampler_and_says_so():
    d = Draft("comfyui")
    d.set_scheduler("comfyui", "euler_ancestral_gpu", "normal")
    assert d.syntax["scheduler"] == _name("comfyui", "euler_ancestral", "normal")
    assert any("_gpu" in w for w in d.warnings), d.warnings


def test_unknown_or_unreachable_names_are_kept_verbatim():
    d = Draft("a1111")
    d.set_scheduler("a1111", "Not A Sampler", "Karras")
    assert "scheduler" not in d.syntax
    assert d.unmapped == {"sampler": "Not A Sampler", "schedule": "Karras"}
    first = map_scheduler(None, "comfyui", "euler_gpu")  # a broken registry matches nothing
    assert (first.entry, first.sampler) == (None, "euler_gpu")
    assert map_scheduler(get_registry(), "a1111", "") is None


def test_a_schedule_the_scheduler_does_not_include_is_kept():
    d = Draft("a1111")
    d.set_scheduler("a1111", "Euler a", "Exponential")
    assert d.syntax["scheduler"] == _name("a1111", "Euler a")
    assert d.unmapped == {"schedule": "Exponential"}


def _png_with_parameters(text: str) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", text)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_hires_sampler_is_mapped_like_the_main_sampler():
    # Bug exposed by the one mapper: a ComfyUI save node writes both samplers in ComfyUI's
    # combined form; the main one was mapped, the hires one was left unmapped.
    text = ("a cat\nSteps: 20, Sampler: euler_ancestral_karras, CFG scale: 7, Seed: 1, Size: 512x512, "
            "Denoising strength: 0.5, Hires upscale: 2, Hires sampler: euler_ancestral_karras, Version: ComfyUI")
    r = import_image(_png_with_parameters(text))
    assert r.syntax["scheduler"] == _name("comfyui", "euler_ancestral", "karras")
    assert r.syntax["extensions"]["hires"]["scheduler"] == r.syntax["scheduler"]
    assert not any("Hires sampler" in u for u in r.unmapped), r.unmapped
