"""Hostile input to `aigif registry` (aigif/cli/cmd_registry.py): bad pipeline folders,
values, repo ids and names for `add`, a broken user entry, unknown and built-in models.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aigif.errors import ExitStatus
from harness import (  # noqa: F401 (user_facing_env, good_aigif: fixtures)
    assert_fails_cleanly, cli, good_aigif, regression, user_facing_env,
)


@regression("`aigif registry` without an action: AttributeError 'json' (internal error); "
            "cmd_registry.run defaults to list but the namespace has no --json")
def test_registry_without_action(capsys):
    code, out, err = cli(capsys, "registry")
    assert code == 0, err
    assert "tiny-sd" in out


def _pipeline_folder(tmp_path, index: str | None) -> Path:
    d = tmp_path / "pipe"
    d.mkdir()
    if index is not None:
        (d / "model_index.json").write_text(index)
    return d


@pytest.mark.parametrize("index", [None, "{{{", "{}", '{"_class_name": 5}'])
def test_registry_add_bad_pipeline_folder(tmp_path, capsys, index):
    folder = _pipeline_folder(tmp_path, index)
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)
    assert cli(capsys, "registry", "show", "mine")[0] == ExitStatus.MODEL


@regression("registry add: model_index.json holding a JSON array -> TypeError, internal error "
            "(cmd_registry._add catches only ValueError/KeyError)")
@pytest.mark.parametrize("index", ["[1, 2]", '"text"', "null"])
def test_registry_add_model_index_not_an_object(tmp_path, capsys, index):
    folder = _pipeline_folder(tmp_path, index)
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@pytest.mark.parametrize("args", [
    ["--scheduler", "nope"], ["--id", "5"], ["--id", "-1"], ["--id", str(1 << 70)], ["--width", "-64"],
    ["--guidance", "abc"], ["--alias", "sd-1.5"],
])
def test_registry_add_bad_values(tmp_path, capsys, args):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder, *args)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)
    assert cli(capsys, "registry", "show", "mine")[0] == ExitStatus.MODEL


@regression("registry add accepts --guidance 1e999999999 (and then every `aigif info` of a file using "
            "that model hangs in decimal_parts); --steps/--width 0 are silently replaced by defaults; "
            "--repo takes any string (registry.validate_model / cmd_registry._add)")
@pytest.mark.parametrize("args", [["--guidance", "1e999999999"], ["--steps", "0"],
                                  ["--width", "0"]])
def test_registry_add_absurd_defaults(tmp_path, capsys, args):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder, *args)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@regression("registry add --repo accepts strings that are not Hugging Face repo ids")
@pytest.mark.parametrize("repo", ["not a repo", "", "a/b/c", "../x"])
def test_registry_add_bad_repo_id(capsys, repo):
    code, _, err = cli(capsys, "registry", "add", "mine", "--repo", repo)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@pytest.mark.parametrize("name", ["", "a/b", "../../evil", "UPPER", "sd-1.5", ".x", "a b"])
def test_registry_add_bad_or_taken_name(tmp_path, capsys, name):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", name, "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@regression("registry add: a name of thousands of characters passes the name pattern, then the entry's "
            "file name is too long (OSError ENAMETOOLONG, internal error); validate_model needs a length cap")
def test_registry_add_name_too_long_for_a_file_name(tmp_path, capsys):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", "x" * 5000, "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@regression("one invalid user entry (hand-edited, or written by an older aigif) makes every command that "
            "loads the registry fail with E_REGISTRY - info, pack, import, even `registry remove`, so the "
            "CLI cannot repair it (registry.load_models: skip a bad *user* entry with a warning)")
@pytest.mark.parametrize("content", ["[[[ not toml", 'id = 1048577\nname = "x"\n'], ids=["not-toml", "incomplete-entry"])
def test_one_bad_user_registry_entry_does_not_disable_the_cli(tmp_path, capsys, good_aigif, content):
    from aigif.registry import reset_registry, user_dir

    models = user_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "1048577-x.toml").write_text(content)
    reset_registry()
    code, out, err = cli(capsys, "info", "--json", good_aigif)
    assert code == 0, err
    code, out, err = cli(capsys, "registry", "list")
    assert code == 0 and "tiny-sd" in out, err


@pytest.mark.parametrize("action", [["show"], ["remove"], ["verify"]])
def test_registry_unknown_model(capsys, action):
    code, _, err = cli(capsys, "registry", *action, "no-such-model")
    assert_fails_cleanly(code, err, ExitStatus.MODEL)


def test_registry_remove_builtin(capsys):
    code, _, err = cli(capsys, "registry", "remove", "sd-1.5")
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@regression("registry verify imports compare_fingerprints, which aigif/diffusion/weights.py does not "
            "define (it has check_fingerprints): reported as E_EXTRA 'pip install aigif[generate]' "
            "although torch is installed")
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch (generate extra)")
def test_registry_verify_is_not_a_missing_extra_when_torch_is_installed(capsys):
    code, _, err = cli(capsys, "registry", "verify", "tiny-sd")
    assert code != ExitStatus.MISSING_EXTRA, err
    assert "internal error" not in err
