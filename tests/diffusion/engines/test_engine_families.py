"""Each engine loads the model families it implements (A1111: SD1; ComfyUI: SD1, SDXL and the
SDXL refiner): a file whose model is of another family is refused naming the family before
any weights are read, instead of being run through other code into a different picture."""

from __future__ import annotations

import pytest

import aigif
from aigif.errors import UnsupportedFeature

pytest.importorskip("torch")


@pytest.mark.parametrize("engine,model,family", [("a1111", "tiny-sdxl", "sdxl"), ("comfyui", "sd-2.1", "sd2"),
                                                ("comfyui", "sd-3-medium", "sd3")])
def test_a_model_of_another_family_is_refused_naming_it(engine, model, family, monkeypatch):
    from aigif.diffusion.engines.a1111.engine import A1111Model
    from aigif.diffusion.engines.comfyui.sdxl import SdxlModel

    def never(*_a, **_k):
        raise AssertionError("weights were loaded before the family check")

    monkeypatch.setattr(A1111Model, "from_pretrained", never)
    monkeypatch.setattr(SdxlModel, "from_pretrained", never)
    syntax = aigif.from_dict({"model": model, "prompt": "a red fox", "seed": 1, "steps": 2, "scheduler": "euler",
                              "width": 64, "height": 64, "extensions": {"semantics": {"engine": engine}}})
    with pytest.raises(UnsupportedFeature, match=f"{family} family"):
        aigif.generate(syntax)


def test_the_sd1_family_still_runs_through_the_check():
    from aigif.diffusion.engines.a1111.from_syntax import check_family
    from aigif.registry import get_registry

    check_family(get_registry().model("tiny-sd"), "A1111")  # no error
    with pytest.raises(UnsupportedFeature):
        check_family(get_registry().model("tiny-sdxl"), "A1111")
