"""The A1111 and ComfyUI engines compute in float32 (their goldens are float32): a model
folder whose weights are stored in float16 (as many published folders, and the embedded
shapes-sd, are) is upcast on load, never run in half precision.  transformers keeps a text
encoder in its config's dtype unless told, so without the explicit dtype this fails."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

REPO = Path(__file__).resolve().parents[3]


def test_a_float16_folder_loads_as_float32_in_the_a1111_engine(tmp_path):
    from diffusers import StableDiffusionPipeline

    from aigif.diffusion.engines.a1111.engine import A1111Model

    StableDiffusionPipeline.from_pretrained(REPO / "registry/embedded/tiny-sd").to(torch.float16).save_pretrained(tmp_path)
    model = A1111Model.from_pretrained(tmp_path)
    assert {model.unet.dtype, model.vae.dtype, model.text_encoder.dtype} == {torch.float32}


def test_a_float16_folder_loads_as_float32_in_the_comfyui_sdxl_loader(tmp_path):
    from diffusers import StableDiffusionXLPipeline

    from aigif.diffusion.engines.comfyui.sdxl import SdxlModel

    StableDiffusionXLPipeline.from_pretrained(REPO / "registry/embedded/tiny-sdxl").to(torch.float16).save_pretrained(tmp_path)
    model = SdxlModel.from_pretrained(tmp_path)
    assert {model.unet.dtype, model.vae.dtype, model.text_encoder.dtype, model.text_encoder_2.dtype} == {torch.float32}
