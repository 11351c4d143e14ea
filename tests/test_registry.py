"""The registry: every file validates, IDs and names are unique, lookups work, user
entries and conflicts behave (spec §6)."""

import tomllib
from pathlib import Path

import pytest

from aigif.errors import RegistryError, UnknownModel
from aigif.registry import PRIVATE_IDS, get_registry, load_registry, validate_model

REGISTRY = Path(__file__).resolve().parents[1] / "registry"


def test_every_model_file_validates_and_ids_are_unique():
    reg = load_registry(entry_points=False)
    files = sorted((REGISTRY / "models").glob("*.toml"))
    assert len(reg.models) == len(files) >= 2
    for f in files:
        d = tomllib.loads(f.read_text())
        assert f.name.startswith(f"{d['id']:04d}-"), f"{f.name}: file name must start with its zero-padded ID"
    names = [k.lower() for e in reg.models.values() for k in (e.name, *e.aliases)]
    assert len(names) == len(set(names))


def test_scheduler_ids_unique_and_defaults_resolve():
    reg = get_registry()
    assert len(reg.schedulers) >= 20
    for e in reg.models.values():
        assert reg.find_scheduler(e.defaults.scheduler) is not None
        for s in e.pipeline.get("schedulers", []):
            assert reg.find_scheduler(s) is not None


def test_lookups_by_alias_repo_and_tool_names():
    reg = get_registry()
    assert reg.model("CompVis/stable-diffusion-v1-4").name == "sd-1.4"
    assert reg.model("runwayml/stable-diffusion-v1-5").name == "sd-1.5"
    assert reg.model("stabilityai/stable-diffusion-xl-base-1.0").family == "sdxl"
    assert reg.scheduler_from_tool("a1111", "Euler a").name == "euler_a"
    assert reg.scheduler_from_tool("a1111", "DPM++ 2M Karras").name == "dpmpp_2m_karras"
    assert reg.scheduler_from_tool("a1111", "DPM++ 2M", "Karras").name == "dpmpp_2m_karras"
    assert reg.scheduler_from_tool("comfyui", "euler_ancestral", "normal").name == "euler_a"
    assert reg.scheduler_from_tool("invokeai", "k_lms").name == "lms"
    with pytest.raises(UnknownModel):
        reg.model("definitely-not-a-model")


def test_conflicting_entries_are_refused(tmp_path):
    reg = load_registry(entry_points=False)
    scheds = {s.name: s for s in reg.schedulers.values()}
    base = {"id": PRIVATE_IDS.start, "name": "dup", "family": "sd1", "status": "private",
            "defaults": {"steps": 20, "guidance": "7", "width": 512, "height": 512, "scheduler": "euler"},
            "pipeline": {"class": "StableDiffusionPipeline", "source": "local", "path": str(tmp_path)}}
    reg.add_model(validate_model(base, "a", scheds, "user"))
    with pytest.raises(RegistryError, match="ID"):
        reg.add_model(validate_model(dict(base, name="other"), "b", scheds, "user"))
    with pytest.raises(RegistryError, match="already used"):
        reg.add_model(validate_model(dict(base, id=PRIVATE_IDS.start + 1, aliases=["sd-1.5"]), "c", scheds, "user"))
    with pytest.raises(RegistryError, match="IDs lie in"):
        validate_model(dict(base, id=5), "d", scheds, "user")


def test_user_entry_add_show_remove(tmp_path, capsys):
    from aigif.cli.main import main

    folder = REGISTRY / "embedded" / "tiny-sd"
    assert main(["registry", "add", "my-tiny", "--path", str(folder), "--like", "tiny-sd"]) == 0
    assert main(["registry", "show", "my-tiny"]) == 0
    out = capsys.readouterr().out
    assert str(PRIVATE_IDS.start) in out
    assert main(["registry", "add", "my-tiny", "--path", str(folder)]) == 10  # duplicate name
    assert main(["registry", "remove", "my-tiny"]) == 0
    assert main(["registry", "remove", "sd-1.5"]) == 10  # built-in entries are not removable


def test_registry_list_shows_everything(capsys):
    from aigif.cli.main import main

    assert main(["registry", "list"]) == 0
    out = capsys.readouterr().out
    for e in get_registry().models.values():
        assert e.name in out


def test_spec_tables_match_the_registry():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(REGISTRY.parent / "spec" / "make_tables.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_json_schema_accepts_vectors_and_rejects_junk():
    import json

    import jsonschema
    schema = json.loads((REGISTRY.parent / "spec" / "syntax.schema.json").read_text())
    for f in sorted((REGISTRY.parent / "spec" / "vectors").glob("*.json")):
        if f.name != "index.json":
            jsonschema.validate(json.loads(f.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"prompt": "x", "steps": 0}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"prompt": "x", "colour": "red"}, schema)
