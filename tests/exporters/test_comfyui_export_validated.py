"""`aigif export --format comfyui` writes graphs ComfyUI accepts (issue 12): each graph of
tests/comfyui_export_cases.py, imported and exported today, must be byte for byte (as
sorted JSON) the graph ComfyUI 0.3.64's own execution.validate_prompt accepted when the
goldens were made (tests/goldens/comfyui/validation.json, tools/goldens/comfyui_validate.py).
A change to the importer or exporter that alters an exported graph fails here until the
golden is remade — and ComfyUI judges the new graph."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import comfyui_export_cases as cases
from conftest import SHARED

pytest.importorskip("torch")

GOLDEN = json.loads((Path(__file__).parents[1] / "goldens/comfyui/validation.json").read_text())


def sha(graph: dict) -> str:
    return hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()


def test_the_validator_was_live():
    assert GOLDEN["negative_controls"] and not any(GOLDEN["negative_controls"].values())


def test_every_case_was_accepted_by_comfyui():
    assert len(GOLDEN["cases"]) >= 10
    for name, case in GOLDEN["cases"].items():
        assert case["valid"] and not case["errors"], name


def test_todays_exports_are_the_graphs_comfyui_accepted(tmp_path):
    shared = SHARED / "aigc-images"
    exported = cases.exported_graphs(shared if shared.is_dir() else None, tmp_path)
    engine = [n for n in exported if not n.startswith("shared/")]
    assert set(engine) == {n for n in GOLDEN["cases"] if not n.startswith("shared/")}
    for name, graph in exported.items():
        assert sha(graph) == GOLDEN["cases"][name]["sha256"], name
