"""The A1111 and ComfyUI engines load SD1-family models only so far: a file whose model is of
another family (SDXL here, the embedded tiny-sdxl) is refused naming the family before any
weights are read, instead of being run through the SD1 code into a different picture."""

from __future__ import annotations

import pytest

import aigif
from aigif.errors import UnsupportedFeature

pytest.importorskip("torch")


@pytest.mark.parametrize("engine", ["a1111", "comfyui"])
def test_an_sdxl_model_is_refused_naming_its_family(engine, monkeypatch):
    from aigif.diffusion.engines.a1111.engine import A1111Model

    def never(*_a, **_k):
        raise AssertionError("weights were loaded before the family check")

    monkeypatch.setattr(A1111Model, "from_pretrained", never)
    syntax = aigif.from_dict({"model": "tiny-sdxl", "prompt": "a red fox", "seed": 1, "steps": 2,
                              "width": 64, "height": 64, "extensions": {"semantics": {"engine": engine}}})
    with pytest.raises(UnsupportedFeature, match="sdxl family"):
        aigif.generate(syntax)


def test_the_sd1_family_still_runs_through_the_check():
    from aigif.diffusion.engines.a1111.from_syntax import check_family
    from aigif.registry import get_registry

    check_family(get_registry().model("tiny-sd"), "A1111")  # no error
    with pytest.raises(UnsupportedFeature):
        check_family(get_registry().model("tiny-sdxl"), "A1111")
