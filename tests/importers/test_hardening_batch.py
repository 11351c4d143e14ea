"""Hardening (issue 9, items 9-11): batch imports survive any one file; weights named by a
file are loaded only with the user's consent; reading a file runs no third-party code."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import threading

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import aigif.importers
from aigif import errors
from aigif.cli.main import main
from aigif.errors import ExitStatus
from aigif.importers import batch

PARAMS = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd-1.5"


def png_bytes(text: dict | None = None) -> bytes:
    buf = io.BytesIO()
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(code), captured.out, captured.err


@pytest.fixture
def forked_workers(monkeypatch):
    """Workers that inherit this process's monkeypatches, whatever the platform default."""
    monkeypatch.setattr(batch, "MP_CONTEXT", multiprocessing.get_context("fork"))
    monkeypatch.delenv("AIGIF_DEBUG", raising=False)


@pytest.fixture
def three_images(tmp_path):
    """a.png, boom.png (the one the patched importer chokes on), c.png: the bad one in the
    middle, so that `-j 1` shows whether the files after it are still attempted."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "boom.png", "c.png"):
        (src / name).write_bytes(png_bytes({"parameters": PARAMS}))
    return src


def patch_importer(monkeypatch, action):
    real = aigif.importers.import_image

    def fake(source, **kw):
        if os.path.basename(str(source)) == "boom.png":
            action()
        return real(source, **kw)

    monkeypatch.setattr(aigif.importers, "import_image", fake)


def _raise_runtime():
    raise RuntimeError("boom in an importer")


# -- item 9: batch work ---------------------------------------------------------------
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_unexpected_error_in_one_file_does_not_stop_the_batch(tmp_path, capsys, monkeypatch, forked_workers, three_images, jobs):
    patch_importer(monkeypatch, _raise_runtime)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "import", three_images, "-o", out, "-j", jobs)
    assert sorted(p.name for p in out.iterdir()) == ["a.aigif", "c.aigif"]
    assert code == ExitStatus.FAILURE  # the only failure is an internal error (spec §9.2: 1)
    assert "3 files: 2 imported, 0 partial, 0 refused (--strict), 0 without metadata, 1 errors" in err
    assert "boom.png: internal error (RuntimeError: boom in an importer)" in err
    assert "Traceback" not in err  # only with AIGIF_DEBUG
    failed = err.split("failed:", 1)[1]
    assert "exit   1" in failed and "boom.png" in failed and "a.png" not in failed


def test_internal_error_traceback_is_shown_with_aigif_debug(tmp_path, capsys, monkeypatch, forked_workers, three_images):
    patch_importer(monkeypatch, _raise_runtime)
    monkeypatch.setenv("AIGIF_DEBUG", "1")
    code, _, err = cli(capsys, "import", three_images, "-o", tmp_path / "out", "-j", "1")
    assert code == ExitStatus.FAILURE
    assert "Traceback" in err and "_raise_runtime" in err


def test_a_dying_worker_costs_only_its_own_file(tmp_path, capsys, monkeypatch, forked_workers, three_images):
    # os._exit in a worker breaks the whole process pool; the batch must find which file
    # did it and still import the others.
    patch_importer(monkeypatch, lambda: os._exit(7))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "import", three_images, "-o", out, "-j", "2")
    assert sorted(p.name for p in out.iterdir()) == ["a.aigif", "c.aigif"], err
    assert code == ExitStatus.FAILURE
    assert "boom.png: internal error (RuntimeError: the worker process importing this file died" in err
    assert "2 imported" in err


def _leave_temp_file(source, ev=None):
    """What write_atomic leaves when its process is killed mid-write, beside the output."""
    from aigif.fileio import TEMP_SUFFIX, temp_prefix

    out = source.parent.parent / "out" / (source.stem + ".aigif")
    (out.parent / f"{temp_prefix(out)}killed{TEMP_SUFFIX}").write_bytes(b"half a file")


def test_a_worker_killed_mid_write_leaves_no_temp_file(tmp_path, capsys, monkeypatch, forked_workers, three_images):
    # a.png's first attempt stops half-way through writing (its temporary file exists) and
    # waits; boom.png's worker dies once it has: the pool terminates a.png's worker, so the
    # batch must remove the temporary file and import a.png again.
    halfway = multiprocessing.get_context("fork").Event()
    real = aigif.importers.import_image

    def fake(source, **kw):
        name = os.path.basename(str(source))
        if name == "a.png" and not halfway.is_set():
            _leave_temp_file(three_images / name)
            halfway.set()
            threading.Event().wait()  # until the pool terminates this worker
        if name == "boom.png":
            halfway.wait()
            os._exit(7)
        return real(source, **kw)

    monkeypatch.setattr(aigif.importers, "import_image", fake)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "import", three_images, "-o", out, "-j", "2")
    assert sorted(p.name for p in out.iterdir()) == ["a.aigif", "c.aigif"], err
    assert "2 imported" in err and code == ExitStatus.FAILURE


def test_a_dying_worker_leaves_no_temp_file_of_its_own(tmp_path, capsys, monkeypatch, forked_workers, three_images):
    patch_importer(monkeypatch, lambda: (_leave_temp_file(three_images / "boom.png"), os._exit(7)))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "import", three_images, "-o", out, "-j", "2")
    assert sorted(p.name for p in out.iterdir()) == ["a.aigif", "c.aigif"], err
    assert "boom.png: internal error (RuntimeError: the worker process importing this file died" in err


def test_single_file_internal_error_is_reported_as_such(tmp_path, capsys, monkeypatch, three_images):
    monkeypatch.delenv("AIGIF_DEBUG", raising=False)
    patch_importer(monkeypatch, _raise_runtime)
    code, _, err = cli(capsys, "import", three_images / "boom.png", "-o", tmp_path / "o.aigif")
    assert code == ExitStatus.FAILURE
    assert "internal error (RuntimeError: boom in an importer)" in err
    assert not (tmp_path / "o.aigif").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_missing_file_is_e_io_and_the_others_are_imported(tmp_path, capsys, forked_workers, jobs):
    ok = tmp_path / "ok.png"
    ok.write_bytes(png_bytes({"parameters": PARAMS}))
    code, _, err = cli(capsys, "import", tmp_path / "missing.png", ok, "-j", jobs)
    assert code == ExitStatus.IO
    assert (tmp_path / "ok.aigif").is_file()
    assert "missing.png: E_IO:" in err and "[exit 12]" in err
    assert "E_IO" in err.split("failed:", 1)[1]


def test_batch_exit_status_is_the_first_failure_in_input_order(tmp_path, capsys, forked_workers):
    # the no-metadata file comes first in input order; with two workers the missing file
    # may well finish first, and must not decide the exit status
    plain = tmp_path / "plain.png"
    plain.write_bytes(png_bytes())
    ok = tmp_path / "ok.png"
    ok.write_bytes(png_bytes({"parameters": PARAMS}))
    code, _, _ = cli(capsys, "import", plain, tmp_path / "missing.png", ok, "-j", "2")
    assert code == ExitStatus.NO_METADATA
    code, _, _ = cli(capsys, "import", tmp_path / "missing.png", plain, ok, "-j", "2")
    assert code == ExitStatus.IO


def test_outcome_carries_the_error_class(tmp_path, monkeypatch):
    plain = tmp_path / "plain.png"
    plain.write_bytes(png_bytes())
    o = batch.import_one(str(tmp_path / "missing.png"), None, write=False)
    assert (o.status, o.error_class, o.exit_status) == ("error", errors.FileAccessError, ExitStatus.IO)
    o = batch.import_one(str(plain), None, write=False)
    assert (o.status, o.error_class, o.exit_status) == ("no-metadata", errors.NoGenerationMetadata, ExitStatus.NO_METADATA)
    with pytest.raises(errors.NoGenerationMetadata):
        o.raise_error()
    (tmp_path / "boom.png").write_bytes(png_bytes({"parameters": PARAMS}))
    patch_importer(monkeypatch, _raise_runtime)
    o = batch.import_one(str(tmp_path / "boom.png"), None, write=False)
    assert (o.status, o.error_class, o.exit_status) == ("error", None, ExitStatus.FAILURE)
    assert o.error.startswith("internal error (RuntimeError: boom in an importer)")
    with pytest.raises(RuntimeError):
        batch.import_one(str(tmp_path / "boom.png"), None, write=False, contain_bugs=False)


def test_strict_refusal_carries_its_class(tmp_path):
    from pathlib import Path

    fooocus = Path(__file__).parents[1] / "fixtures" / "aigc" / "07_fooocus_cropped.png"  # has unmapped values
    o = batch.import_one(str(fooocus), None, strict=True, write=False)
    assert (o.status, o.error_class, o.exit_status) == ("refused", errors.UnsupportedFeature, ExitStatus.UNSUPPORTED)


def test_json_lines_name_each_files_exit_status(tmp_path, capsys, forked_workers):
    ok = tmp_path / "ok.png"
    ok.write_bytes(png_bytes({"parameters": PARAMS}))
    code, out, _ = cli(capsys, "import", tmp_path / "missing.png", ok, "--json", "-j", "1")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["status"], r["error_code"], r["exit_status"]) for r in rows] == [("error", "E_IO", 12), ("imported", None, 0)]
    assert code == ExitStatus.IO


# -- item 10: weights named by a file -------------------------------------------------
class _Reached(errors.AigifError):
    """The fake generator ran: the model passed the trust check."""

    code = "E_TEST_REACHED"


@pytest.fixture
def fake_generator(monkeypatch):
    """Record which model entry would be loaded, without torch; the CLI then reports
    _Reached (exit 1), which no real run can produce."""
    import aigif.regenerate as regenerate

    seen = []

    class Fake:  # stands in for aigif.diffusion.dispatch, the one door to every engine
        @staticmethod
        def generate(resolved, **options):
            seen.append((resolved.model, options))
            raise _Reached("generation reached")

        @staticmethod
        def missing_inputs(resolved, **options):
            return []

    monkeypatch.setattr(regenerate, "dispatch", Fake)
    return seen


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "someones-model"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    return folder


def inline_file(tmp_path, model: str):
    import aigif

    path = tmp_path / "sent.aigif"
    aigif.write(aigif.from_dict({"model": model, "prompt": "a fox", "seed": 1, "steps": 2}), path)
    assert aigif.read(path).model == model  # really inline, not a registry ID
    return path


@pytest.mark.parametrize("verb", ["unpack", "verify"])
def test_inline_folder_in_a_file_is_not_loaded_without_consent(tmp_path, capsys, fake_generator, model_folder, verb):
    src = inline_file(tmp_path, str(model_folder))
    if verb == "verify":  # verify refuses a file without FIDELITY before any model (issue 16): give it one
        import aigif
        from aigif.syntax import Fidelity

        s = aigif.read(src)
        s.fidelity = Fidelity(1, b"\0" * 8)
        aigif.write(s, src)
    args = [verb, src] + (["-o", tmp_path / "o.png"] if verb == "unpack" else [])
    code, _, err = cli(capsys, *args)
    assert code == ExitStatus.MODEL
    assert "E_MODEL_UNAVAILABLE" in err and "--trust-inline-model" in err and str(model_folder) in err
    assert "trust_inline_model=True" in err and "aigif registry add" in err
    assert fake_generator == []
    code, _, err = cli(capsys, *args, "--trust-inline-model")
    assert "E_TEST_REACHED" in err
    (entry, _), = fake_generator
    assert entry.origin == "inline" and entry.source_dir == model_folder


def test_inline_hub_repo_is_not_fetched_even_with_allow_download(tmp_path, capsys, fake_generator):
    src = inline_file(tmp_path, "stranger/any-repo")
    code, _, err = cli(capsys, "unpack", src, "-o", tmp_path / "o.png", "--allow-download")
    assert code == ExitStatus.MODEL
    assert "hub repo stranger/any-repo" in err and "--trust-inline-model" in err
    assert fake_generator == []
    cli(capsys, "unpack", src, "-o", tmp_path / "o.png", "--allow-download", "--trust-inline-model")
    (entry, options), = fake_generator
    assert entry.pipeline["repo"] == "stranger/any-repo" and options["allow_download"] is True


def test_python_api_needs_the_keyword(tmp_path, fake_generator, model_folder):
    import aigif

    data = inline_file(tmp_path, str(model_folder)).read_bytes()
    with pytest.raises(errors.ModelUnavailable, match="trust_inline_model=True"):
        aigif.unpack(data)
    with pytest.raises(errors.ModelUnavailable):
        aigif.generate({"model": str(model_folder), "prompt": "x"})
    assert fake_generator == []
    with pytest.raises(_Reached):
        aigif.unpack(data, trust_inline_model=True)
    assert "trust_inline_model" not in fake_generator[0][1]  # consumed, not passed to diffusers


def test_registry_entry_named_like_the_inline_model_is_consent(tmp_path, capsys, fake_generator, model_folder):
    # The user registers the name the file uses: the registry entry says where the weights
    # are, and no flag is needed.  The file's defaults stay those of an inline model.
    import aigif

    name = "friend/shared-model"
    src = inline_file(tmp_path, name)  # written before the name is registered: stays inline
    assert main(["registry", "add", "friends-model", "--path", str(model_folder), "--alias", name]) == 0
    capsys.readouterr()
    assert aigif.read(src).model == name
    code, _, err = cli(capsys, "unpack", src, "-o", tmp_path / "o.png")
    assert "E_TEST_REACHED" in err, err
    (entry, _), = fake_generator
    assert (entry.name, entry.origin, entry.source_dir) == ("friends-model", "user", model_folder.resolve())


def test_pack_trusts_model_typed_on_its_command_line_only(tmp_path, capsys, fake_generator, model_folder):
    code, _, err = cli(capsys, "pack", "--model", model_folder, "--prompt", "x", "--seed", "1", "-o", tmp_path / "a.aigif")
    assert "E_TEST_REACHED" in err
    assert fake_generator[-1][0].source_dir == model_folder
    syntax_json = tmp_path / "sent.json"
    syntax_json.write_text(json.dumps({"model": str(model_folder), "prompt": "x", "seed": 1}))
    code, _, err = cli(capsys, "pack", "--syntax", syntax_json, "-o", tmp_path / "b.aigif")
    assert code == ExitStatus.MODEL and "--trust-inline-model" in err
    assert len(fake_generator) == 1
    code, _, err = cli(capsys, "pack", "--syntax", syntax_json, "--trust-inline-model", "-o", tmp_path / "b.aigif")
    assert "E_TEST_REACHED" in err and len(fake_generator) == 2
    assert not (tmp_path / "b.aigif").exists()


def test_registered_models_need_no_flag(tmp_path, capsys, fake_generator):
    src = tmp_path / "reg.aigif"
    import aigif

    aigif.write(aigif.from_dict({"model": "tiny-sd", "prompt": "a fox", "seed": 1}), src)
    code, _, err = cli(capsys, "unpack", src, "-o", tmp_path / "o.png")
    assert "E_TEST_REACHED" in err
    assert fake_generator[0][0].origin == "builtin"


# -- item 11: registry plugins are opt-in -------------------------------------------------
PLUGIN_MODEL = """
id = 5000
name = "plugin-model"
family = "sd1"
status = "experimental"
[defaults]
steps = 12
guidance = "4.5"
width = 64
height = 64
scheduler = "euler"
[pipeline]
class = "StableDiffusionPipeline"
source = "local"
path = "/nonexistent"
"""


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """One installed 'aigif.registry' entry point; `loads` counts how often its code ran."""
    import importlib.metadata

    plugin_dir = tmp_path / "plugin"
    (plugin_dir / "models").mkdir(parents=True)
    (plugin_dir / "models" / "5000-plugin-model.toml").write_text(PLUGIN_MODEL)
    loads = []

    class FakeEntryPoint:
        name = "someones-plugin"

        def load(self):
            loads.append(self.name)  # importing the package: third-party code runs here
            return lambda: str(plugin_dir)

    real = importlib.metadata.entry_points

    def entry_points(**kw):
        if kw.get("group") == "aigif.registry":
            return [FakeEntryPoint()]
        return real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return loads


def test_info_on_a_file_runs_no_plugin_code(tmp_path, capsys, fake_plugin):
    import aigif

    src = tmp_path / "f.aigif"
    aigif.write(aigif.Syntax(model=5000, prompt="a fox"), src)  # the plugin's experimental ID
    codes = []
    for args in (["info", src], ["info", "--json", "--resolved", src], ["export", src, "--format", "json"]):
        code, _, err = cli(capsys, *args)
        codes.append(code)
        if code:  # --resolved needs the model's defaults: unknown here, and the error says why
            assert "E_MODEL_UNKNOWN" in err and "someones-plugin" in err and "AIGIF_REGISTRY_PLUGINS=1" in err
    assert codes == [0, ExitStatus.MODEL, 0]
    assert fake_plugin == []
    with pytest.raises(errors.UnknownModel, match="AIGIF_REGISTRY_PLUGINS=1"):
        aigif.resolve(aigif.Syntax(model=5000, prompt="x"))
    assert fake_plugin == []


def test_plugins_load_with_the_env_switch(monkeypatch, fake_plugin):
    from aigif.registry import get_registry, reset_registry

    monkeypatch.setenv("AIGIF_REGISTRY_PLUGINS", "1")
    reset_registry()
    entry = get_registry().model("plugin-model")
    assert (entry.id, entry.origin) == (5000, "package:someones-plugin")
    assert fake_plugin == ["someones-plugin"]


def test_plugins_load_with_the_cli_flag(capsys, fake_plugin):
    code, out, err = cli(capsys, "registry", "list")
    assert code == 0 and "plugin-model" not in out
    assert "1 installed registry plugin(s) not loaded (someones-plugin)" in err and "--plugins" in err
    assert fake_plugin == []
    code, out, _ = cli(capsys, "--plugins", "registry", "show", "plugin-model")
    assert code == 0 and "plugin-model  (ID 5000, experimental, package:someones-plugin)" in out
    assert fake_plugin == ["someones-plugin"]


def test_python_api_switch(fake_plugin):
    from aigif.registry import enable_plugins, get_registry, load_registry

    assert get_registry().find_model(5000) is None
    assert load_registry(entry_points=True).find_model(5000).name == "plugin-model"  # an explicit caller choice
    enable_plugins()
    assert get_registry().find_model(5000).name == "plugin-model"
    enable_plugins(False)
    assert get_registry().find_model(5000) is None


# -- the suite passes every time: Hypothesis runs the same examples unless asked not to ----
def test_hypothesis_profile_is_deterministic_by_default():
    from hypothesis import settings

    import conftest

    if conftest.HYPOTHESIS_PROFILE != "ci":
        pytest.skip(f"HYPOTHESIS_PROFILE={conftest.HYPOTHESIS_PROFILE} asked for another profile")
    current = settings.default
    assert current.derandomize is True and current.database is None and current.deadline is None
    assert current.print_blob is True


def test_ci_profile_draws_the_same_examples_every_run():
    from hypothesis import given, settings, strategies as st

    def run() -> list:
        seen = []

        @settings(settings.get_profile("ci"), max_examples=25)
        @given(st.text(), st.integers())
        def prop(text, n):
            seen.append((text, n))

        prop()
        return seen

    first = run()
    assert len(first) >= 10 and first == run()
