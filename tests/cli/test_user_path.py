"""Issue 16, the user's path: a private model's identity travels with the file (spec §6.4);
what can be checked before a model runs is checked before it (no model is loaded: the
engine door, aigif.regenerate.dispatch, is replaced by a recorder that fails the test if a
generation starts where none should); progress goes to stderr; names get suggestions; exit
statuses are the spec's (§9.2)."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from PIL import Image

import aigif
import aigif.regenerate as regenerate
from aigif.errors import ExitStatus
from aigif.registry import reset_registry
from aigif.syntax import Platform, Syntax
from harness import assert_fails_cleanly, cli, user_facing_env  # noqa: F401 (fixture)


class _Reached(Exception):
    """A generation started: where a test expects none, it fails with this."""


@pytest.fixture
def engine(monkeypatch):
    """Replaces the engine door: records each resolved syntax and its options, then either
    raises _Reached (`engine.produce = False`) or returns a flat image of the asked size,
    calling the progress callback for each step as the real engines do."""

    class Door:
        calls: list = []
        produce = False

        @staticmethod
        def generate(resolved, **options):
            Door.calls.append((resolved, options))
            if not Door.produce:
                raise _Reached(resolved.model.name)
            progress = options.get("progress")
            for step in range(1, resolved.steps + 1):
                if progress is not None:
                    progress(step, resolved.steps)
            platform = Platform(device="cpu", dtype="float32", threads=options.get("threads") or 1)
            return Image.new("RGB", (resolved.width, resolved.height), (200, 10, 10)), platform

        @staticmethod
        def missing_inputs(resolved, **options):
            return []

    Door.calls = []
    monkeypatch.setattr(regenerate, "dispatch", Door)
    return Door


def weights_folder(root, name: str, weights: bytes):
    """A diffusers-shaped folder whose only weights are `weights` (hashing needs no real model)."""
    folder = root / name
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(weights)
    return folder


def use_registry(monkeypatch, config_dir) -> None:
    """Another user's registry: AIGIF_CONFIG_DIR is where user entries live."""
    monkeypatch.setenv("AIGIF_CONFIG_DIR", str(config_dir))
    reset_registry()


# -- item 2: a private model's identity ---------------------------------------------------------
@pytest.fixture
def private_file(tmp_path, monkeypatch, capsys):
    """Registry A has 'mine' (weights X, 4 steps by default); f.aigif is packed with it."""
    x = weights_folder(tmp_path, "x", b"weights of X")
    use_registry(monkeypatch, tmp_path / "cfg-a")
    assert cli(capsys, "registry", "add", "mine", "--path", x, "--steps", "4")[0] == 0
    out = tmp_path / "f.aigif"
    code, stdout, err = cli(capsys, "pack", "--no-generate", "--model", "mine", "--prompt", "a fox", "--seed", "1", "-o", out)
    assert code == 0, err
    return out, x


def test_private_model_is_written_by_name_and_fingerprint(private_file):
    out, x = private_file
    s = aigif.read(out)
    assert s.model == "mine"  # not the private ID 1048576
    assert s.model_fingerprint == hashlib.sha256(b"weights of X").digest()[:8]
    assert s.steps == 4  # the private default, written out: an inline model's absent steps mean 50


def test_the_api_writes_a_private_model_by_name_and_fingerprint_too(private_file, tmp_path):
    """Spec §6.4: a writer MUST NOT store a private ID, aigif.encode / aigif.write included."""
    s = aigif.Syntax(model=1048576, prompt="a fox", seed=1)  # 'mine' in this registry
    for data in (aigif.encode(s), aigif.write(s, tmp_path / "api.aigif"), (tmp_path / "api.aigif").read_bytes()):
        back = aigif.decode(data)
        assert back.model == "mine" and back.model_fingerprint == hashlib.sha256(b"weights of X").digest()[:8]
        assert back.steps == 4 and back.prompt == "a fox" and back.seed == 1
    # an ID no entry here has: nothing says what it is, so it is kept as the syntax holds it
    assert aigif.decode(aigif.encode(aigif.Syntax(model=1048577, prompt="x"))).model == 1048577


def test_private_model_file_regenerates_with_its_own_model(private_file, engine, capsys):
    out, x = private_file
    code, _, err = cli(capsys, "unpack", out, "-o", out.with_suffix(".png"))
    assert "E_" not in err.replace("_Reached", "") or code == ExitStatus.FAILURE
    (resolved, _), = engine.calls
    assert resolved.model.name == "mine" and resolved.model.source_dir == x.resolve() and resolved.steps == 4


@pytest.mark.parametrize("verb", ["unpack", "verify"])
def test_conflicting_registry_refuses_instead_of_using_its_own_mine(private_file, engine, tmp_path, monkeypatch, capsys, verb):
    out, _ = private_file
    y = weights_folder(tmp_path, "y", b"weights of Y")
    use_registry(monkeypatch, tmp_path / "cfg-b")
    assert cli(capsys, "registry", "add", "mine", "--path", y)[0] == 0  # same name, same private ID, other weights
    args = ["-o", tmp_path / "o.png"] if verb == "unpack" else []
    if verb == "verify":  # give it a fidelity hash so verify gets as far as the model
        s = aigif.read(out)
        s.fidelity = aigif.syntax.Fidelity(1, b"\0" * 8)
        aigif.write(s, out)
    code, _, err = cli(capsys, verb, out, *args)
    assert_fails_cleanly(code, err, ExitStatus.MODEL)
    assert "E_MODEL_MISMATCH" in err and "mine" in err
    assert engine.calls == []


def test_same_weights_under_another_name_are_found_by_fingerprint(private_file, engine, tmp_path, monkeypatch, capsys):
    out, x = private_file
    use_registry(monkeypatch, tmp_path / "cfg-c")
    assert cli(capsys, "registry", "add", "theirs", "--path", x)[0] == 0
    cli(capsys, "unpack", out, "-o", tmp_path / "o.png")
    (resolved, _), = engine.calls
    assert resolved.model.name == "theirs" and resolved.steps == 4


def test_registry_without_the_model_says_unknown(private_file, engine, tmp_path, monkeypatch, capsys):
    out, _ = private_file
    use_registry(monkeypatch, tmp_path / "cfg-empty")
    code, _, err = cli(capsys, "unpack", out, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.MODEL)
    assert engine.calls == []
    code, stdout, _ = cli(capsys, "info", out)
    assert code == 0 and '"mine"' in stdout


def test_old_private_id_files_still_decode_and_an_id_fingerprint_is_checked(private_file, engine, tmp_path, monkeypatch, capsys):
    out, x = private_file
    y = weights_folder(tmp_path, "y", b"weights of Y")
    use_registry(monkeypatch, tmp_path / "cfg-b")
    assert cli(capsys, "registry", "add", "mine", "--path", y)[0] == 0
    old = tmp_path / "old.aigif"
    # revision 1-2 files held a bare private ID: the format-level writer still writes one
    old.write_bytes(aigif.format.encode(Syntax(model=1048576, prompt="a fox")))
    assert cli(capsys, "info", "--json", old)[0] == 0
    with_fp = tmp_path / "idfp.aigif"
    with_fp.write_bytes(aigif.format.encode(Syntax(model=1048576, model_fingerprint=hashlib.sha256(b"weights of X").digest()[:8], prompt="a fox")))
    code, _, err = cli(capsys, "unpack", with_fp, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.MODEL)
    assert "E_MODEL_MISMATCH" in err and engine.calls == []


# -- item 6: checked before the model runs ------------------------------------------------------
def test_width_not_divisible_by_8_fails_before_any_model(engine, tmp_path, capsys):
    start = time.process_time()
    code, _, err = cli(capsys, "pack", "--width", "63", "--prompt", "x", "-o", tmp_path / "a.aigif")
    assert time.process_time() - start < 3  # generous: no model load, no torch import
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert "63" in err and "multiples of 8" in err and engine.calls == []


@pytest.mark.parametrize("args, status, words", [
    (["-o", "no-such-dir/a.aigif"], ExitStatus.IO, "no such folder"),
    (["--model", "./missing_dir", "-o", "a.aigif"], ExitStatus.IO, "no such folder"),
    (["--scheduler", "eulr", "-o", "a.aigif"], ExitStatus.USAGE, "did you mean 'euler'"),
])
def test_pack_checks_before_the_model(engine, tmp_path, capsys, monkeypatch, args, status, words):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "pack", "--prompt", "x", *args)
    assert_fails_cleanly(code, err, status)
    assert words in err and engine.calls == []


def test_residual_size_comes_from_the_image_or_names_the_flag(engine, tmp_path, capsys):
    original = tmp_path / "orig.png"
    Image.new("RGB", (40, 24), (1, 2, 3)).save(original)
    code, _, err = cli(capsys, "pack", "--prompt", "x", "--image", original, "--residual", "--width", "64", "-o", tmp_path / "a.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert "--width 40 --height 24" in err and engine.calls == []
    cli(capsys, "pack", "--prompt", "x", "--image", original, "--residual", "-o", tmp_path / "a.aigif")
    (resolved, _), = engine.calls
    assert (resolved.width, resolved.height) == (40, 24)


def test_verify_without_fidelity_and_a_wrong_size_reference_run_no_model(engine, tmp_path, capsys):
    f = tmp_path / "f.aigif"
    aigif.write(aigif.from_dict({"prompt": "x", "seed": 1}), f)
    code, _, err = cli(capsys, "verify", f)
    assert_fails_cleanly(code, err, ExitStatus.NO_METADATA)
    assert "E_NO_FIDELITY" in err
    reference = tmp_path / "ref.png"
    Image.new("RGB", (32, 32)).save(reference)
    code, _, err = cli(capsys, "unpack", f, "-o", tmp_path / "o.png", "--reference", reference)
    assert_fails_cleanly(code, err, ExitStatus.DIFFERS)
    assert "32x32" in err and "64x64" in err
    assert engine.calls == []


# -- items 5, 10, 12: progress, recorded threads, verify DIR ------------------------------------
def test_single_pack_reports_loading_and_steps_on_stderr_only(engine, tmp_path, capsys):
    engine.produce = True
    code, out, err = cli(capsys, "pack", "--prompt", "x", "--seed", "1", "--steps", "3", "-o", tmp_path / "a.aigif")
    assert code == 0, err
    assert out.startswith("wrote ") and "step" not in out
    assert err.index("loading model") < err.index("step 3/3")
    code, out, err = cli(capsys, "unpack", tmp_path / "a.aigif", "-o", tmp_path / "a.png", "--quiet")
    assert code == 0 and err == "" and "bit-exact" in out


def test_verify_dir_uses_the_recorded_threads(engine, tmp_path, capsys):
    engine.produce = True
    d = tmp_path / "d"
    d.mkdir()
    for name in ("a", "b"):
        assert cli(capsys, "pack", "--prompt", name, "--seed", "1", "--steps", "2", "--threads", "3", "-o", d / f"{name}.aigif")[0] == 0
    engine.calls.clear()
    code, out, err = cli(capsys, "verify", d)
    assert code == 0, err
    assert "summary: 2 bit-exact" in out
    assert [options["threads"] for _, options in engine.calls] == [3, 3]  # PLATFORM said 3; nobody passed --threads


def test_platform_difference_is_named():
    recorded = Platform(device="cpu", dtype="float32", threads=2, torch="2.14.1")
    now = Platform(device="cpu", dtype="float32", threads=1, torch="2.14.1")
    assert regenerate.platform_difference(recorded, now) == "platform differs: recorded threads=2, now 1"
    r = regenerate.UnpackResult(None, Syntax(), "regenerated", "differs", now, regenerate.platform_difference(recorded, now))
    assert r.status_text == "differs (platform differs: recorded threads=2, now 1)"
    too_many = Syntax(platform=Platform(device="cpu", threads=100000))
    assert regenerate.recorded_threads(too_many, {"device": "cpu"}) is None  # a file cannot ask for 100,000 threads
    assert regenerate.recorded_threads(Syntax(platform=recorded), {"device": "cuda"}) is None


# -- items 13, 14: IDs and suggestions ----------------------------------------------------------
def test_numeric_ids_are_accepted(capsys, tmp_path):
    code, out, _ = cli(capsys, "registry", "show", "3")
    assert code == 0 and out.startswith("sd-1.5")
    assert cli(capsys, "pack", "--no-generate", "--model", "3", "--prompt", "x", "-o", tmp_path / "a.aigif")[0] == 0
    assert aigif.read(tmp_path / "a.aigif").model == 3
    # only typed input: a checkpoint named "1" in a file or an image stays a name, not ID 1
    assert aigif.from_dict({"model": "1", "prompt": "x"}).model == "1"


def test_mistyped_model_gets_a_suggestion_and_unregistered_names_need_the_flag(capsys, tmp_path):
    out = tmp_path / "a.aigif"
    code, _, err = cli(capsys, "pack", "--no-generate", "--model", "sd-15", "--prompt", "x", "-o", out)
    assert_fails_cleanly(code, err, ExitStatus.MODEL)
    assert "did you mean 'sd-1.5'" in err and not out.exists()
    assert cli(capsys, "pack", "--no-generate", "--model", "sd-15", "--unregistered-model", "--prompt", "x", "-o", out)[0] == 0
    assert aigif.read(out).model == "sd-15"
    code, _, err = cli(capsys, "registry", "show", "tiny-sdx")
    assert_fails_cleanly(code, err, ExitStatus.MODEL)
    assert "did you mean 'tiny-sdxl'" in err


# -- items 7, 17: registry add reads the folder; verify's exit statuses --------------------------
def test_registry_add_reads_the_folders_configs_and_records_fingerprints(tmp_path, capsys):
    folder = weights_folder(tmp_path, "m", b"unet weights")
    (folder / "unet" / "config.json").write_text('{"sample_size": 96}')
    (folder / "vae").mkdir()
    (folder / "vae" / "config.json").write_text('{"block_out_channels": [128, 256, 512, 512]}')
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text('{"_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": true}')
    code, out, err = cli(capsys, "registry", "add", "mine", "--path", folder)
    assert code == 0, err
    assert "size 768x768" in out and "scheduler dpmpp_2m_karras" in out and "family sd1" in out and "steps 50" in out
    entry = aigif.registry.get_registry().model("mine")
    assert (entry.defaults.width, entry.defaults.height, entry.family) == (768, 768, "sd1")
    assert [fp["file"] for fp in entry.fingerprints] == ["unet/diffusion_pytorch_model.safetensors"]
    pytest.importorskip("torch")  # `registry verify` belongs to the generate extra
    assert cli(capsys, "registry", "verify", "mine")[0] == 0
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"swapped")
    code, _, err = cli(capsys, "registry", "verify", "mine")
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


def test_registry_verify_that_checked_nothing_is_not_ok(tmp_path, capsys):
    pytest.importorskip("torch")
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    assert cli(capsys, "registry", "add", "bare", "--path", folder)[0] == 0  # no weights: no fingerprints
    code, _, err = cli(capsys, "registry", "verify", "bare")
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)
    assert "nothing was verified" in err


# -- item 4: a pixels-only file has no syntax to show -------------------------------------------
def test_info_invents_no_syntax_for_a_pixels_only_file(tmp_path, capsys):
    from samples import pixels_only_aigif

    f = tmp_path / "p.aigif"
    f.write_bytes(pixels_only_aigif())
    code, out, _ = cli(capsys, "info", "--json", f)
    d = __import__("json").loads(out)
    assert code == 0 and not {"model", "prompt", "seed", "steps"} & set(d) and d["payloads"]
    code, out, _ = cli(capsys, "info", f)
    assert code == 0 and "pixels-only" in out and "tiny-sd" not in out and "prompt" not in out


# -- item 16: messages --------------------------------------------------------------------------
def test_download_hint_names_hf_download_and_only_suggests_the_flag_when_not_given():
    pytest.importorskip("torch")
    from aigif.diffusion.pipelines import _first_line, how_to_get

    entry = aigif.registry.get_registry().model("sd-1.5")
    assert "`hf download " in how_to_get(entry) and "huggingface-cli" not in how_to_get(entry)
    assert "--allow-download" in how_to_get(entry) and "--allow-download" not in how_to_get(entry, True)
    cut = _first_line(ValueError("word " * 100))
    assert cut.endswith(" …") and cut[: -2].split(" ")[-1] == "word"  # cut between words


def test_unreadable_image_message_has_no_python_repr(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image at all")
    code, _, err = cli(capsys, "pack", "--image", bad, "-o", tmp_path / "a.aigif")
    assert_fails_cleanly(code, err, ExitStatus.CODEC)
    assert "BytesIO" not in err and "<" not in err and str(bad) in err


# -- item 18: LPIPS says how to get its weights, and checking costs no torch import -------------
def test_lpips_check_imports_nothing_when_the_weights_are_missing(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from aigif import metrics; ok, why = metrics.lpips_status(); "
            "print(ok, 'torch' in sys.modules, 'lpips' in sys.modules); print(why)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "TORCH_HOME": str(tmp_path)})
    first, why = r.stdout.splitlines()[:2]
    assert first == "False False False", r.stdout + r.stderr
    assert str(tmp_path) in why and "torchvision.models.alexnet" in why or "pip install" in why


def test_import_of_an_image_made_with_a_private_model_stores_its_name_not_its_id(tmp_path, capsys):
    from PIL import PngImagePlugin

    x = weights_folder(tmp_path, "x", b"weights of X")
    full = hashlib.sha256(b"a checkpoint file").hexdigest()
    assert cli(capsys, "registry", "add", "mine", "--path", x)[0] == 0
    # the user's entry also records the checkpoint hash A1111 writes (as a registry file may)
    entry_file = next((aigif.registry.user_dir() / "models").glob("*.toml"))
    entry_file.write_text(entry_file.read_text() + f'\n[[fingerprints]]\nkind = "sha256"\nfile = "mine.safetensors"\nvalue = "{full}"\n')
    reset_registry()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Model hash: {full[:10]}, Model: mine")
    src = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(src, pnginfo=info)
    assert cli(capsys, "import", src, "-o", tmp_path / "a.aigif")[0] == 0
    s = aigif.read(tmp_path / "a.aigif")
    assert s.model == "mine" and s.model_fingerprint == hashlib.sha256(b"weights of X").digest()[:8]


def test_an_entry_that_cannot_be_compared_is_not_used_for_a_fingerprinted_file(engine, tmp_path, capsys):
    # a hub entry with no recorded hashes and no local weights: the file's fingerprint can
    # be neither confirmed nor ruled out, so the file is not regenerated with it
    assert cli(capsys, "registry", "add", "theirs", "--repo", "someone/theirs")[0] == 0
    f = tmp_path / "f.aigif"
    aigif.write(aigif.from_dict({"model": {"name": "theirs", "fingerprint": "0123456789abcdef"}, "prompt": "x"}), f)
    assert aigif.read(f).model_fingerprint is not None
    code, _, err = cli(capsys, "unpack", f, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.MODEL)
    assert "E_MODEL_MISMATCH" in err and "cannot be" in err and engine.calls == []
