"""aigif.diffusion: deterministic regeneration through diffusers with the embedded models.

Offline and CPU-only: the embedded tiny models are a few MB in the repo and generate a
64 px image in well under a second, so these tests exercise the real pipelines.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import aigif  # noqa: E402
from aigif.errors import InvalidSyntax, MissingExtra, ModelUnavailable, UnsupportedFeature  # noqa: E402
from aigif.diffusion import (  # noqa: E402
    PipelineCache,
    check_fingerprints,
    generate,
    generate_array,
    hash_local_weights,
    load_pipeline,
)
from aigif.registry import get_registry  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache():
    return PipelineCache()


def resolved(**fields):
    # 4 steps instead of the model default keeps the file fast on a loaded 2-core box;
    # every code path runs the same with more steps.
    return aigif.resolve(aigif.from_dict({"prompt": "a red fox in the snow", "seed": 42, "steps": 4, **fields}))


def pixels(image) -> bytes:
    return image.tobytes()


def test_import_needs_no_torch():
    code = "import sys, aigif, aigif.diffusion; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_same_syntax_twice_gives_identical_bytes(cache, model):
    r = resolved(model=model, steps=None)  # the model's own defaults
    a, platform = generate(r, cache=cache, threads=1)
    b, _ = generate(r, cache=cache, threads=1)
    assert a.mode == "RGB" and a.size == (r.width, r.height)
    assert pixels(a) == pixels(b)
    assert platform.device == "cpu" and platform.dtype == "float32" and platform.deterministic
    assert platform.torch and platform.diffusers and platform.transformers


def test_image_is_not_flat(cache):
    image, _ = generate(resolved(), cache=cache, threads=1)
    lo, hi = zip(*image.getextrema())
    assert max(hi) - min(lo) > 8


def test_different_seed_changes_the_image(cache):
    a, _ = generate(resolved(seed=1), cache=cache, threads=1)
    b, _ = generate(resolved(seed=2), cache=cache, threads=1)
    assert pixels(a) != pixels(b)


def test_prompt_changes_the_image(cache):
    a, _ = generate(resolved(prompt="a castle"), cache=cache, threads=1)
    b, _ = generate(resolved(prompt="a dragon"), cache=cache, threads=1)
    assert pixels(a) != pixels(b)


def test_thread_count_is_recorded_and_restored(cache, monkeypatch, request):
    import torch

    before = torch.get_num_threads()
    calls = []
    real_set = torch.set_num_threads
    request.addfinalizer(lambda: real_set(before))
    # Record what generate asks for, but keep running on 1 thread: several threads on a
    # loaded 2-core CI box make this test slow without testing anything more.
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real_set(1))[1])
    monkeypatch.setattr(torch, "get_num_threads", lambda: calls[-1] if calls else before)
    _, platform = generate(resolved(steps=1), cache=cache, threads=3)
    assert platform.threads == 3
    assert calls == [3, before]  # set for the call, then restored
    calls.clear()
    _, platform = generate(resolved(steps=1), cache=cache)
    assert platform.threads == before and calls == []


def test_pipeline_loaded_once_per_model(cache):
    generate(resolved(seed=5), cache=cache, threads=1)
    n = len(cache)
    generate(resolved(seed=6), cache=cache, threads=1)
    generate(resolved(seed=7, scheduler="ddim"), cache=cache, threads=1)
    assert len(cache) == n


def test_scheduler_swap_does_not_leak(cache):
    r = resolved(scheduler="euler")
    first, _ = generate(r, cache=cache, threads=1)
    pipe = load_pipeline(r.model, cache=cache)
    cls_before = type(pipe.scheduler)
    other, _ = generate(resolved(scheduler="dpmpp_2m_karras"), cache=cache, threads=1)
    again, _ = generate(r, cache=cache, threads=1)
    assert type(pipe.scheduler) is cls_before
    assert pixels(other) != pixels(first)
    assert pixels(again) == pixels(first)


def test_multistep_scheduler_state_does_not_carry_over(cache):
    # DPM-Solver keeps a history of model outputs; a second call must start clean.
    r = resolved(scheduler="dpmpp_2m")
    a, _ = generate(r, cache=cache, threads=1)
    generate(resolved(scheduler="dpmpp_2m", seed=99, steps=7), cache=cache, threads=1)
    b, _ = generate(r, cache=cache, threads=1)
    assert pixels(a) == pixels(b)


def test_output_quantised_like_diffusers_pil(cache):
    import numpy as np
    import torch

    r = resolved()
    array, _ = generate_array(r, cache=cache, threads=1)
    image, _ = generate(r, cache=cache, threads=1)
    pipe = load_pipeline(r.model, cache=cache)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        direct = pipe(
            r.prompt,
            num_inference_steps=r.steps,
            guidance_scale=float(r.guidance),
            width=r.width,
            height=r.height,
            generator=torch.Generator("cpu").manual_seed(r.seed),
            output_type="pil",
        ).images[0]
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(np.asarray(image), (array * 255).round().astype("uint8"))
    assert pixels(direct) == pixels(image)


def test_clip_skip_is_honoured(cache):
    plain, _ = generate(resolved(), cache=cache, threads=1)
    last_layer, _ = generate(resolved(extensions={"clip_skip": 1}), cache=cache, threads=1)
    penultimate, _ = generate(resolved(extensions={"clip_skip": 2}), cache=cache, threads=1)
    assert pixels(last_layer) == pixels(plain)  # A1111: 1 = last layer = no skip
    assert pixels(penultimate) != pixels(plain)


def test_clip_skip_deeper_than_the_encoder_is_refused(cache):
    with pytest.raises(UnsupportedFeature, match="clip_skip"):
        generate(resolved(extensions={"clip_skip": 12}), cache=cache)


def test_unsupported_critical_extension_is_refused_by_name(cache):
    r = resolved(extensions={"lora": [{"name": "style", "weight": 0.8}], "comment": "hi"})
    with pytest.raises(UnsupportedFeature) as info:
        generate(r, cache=cache)
    assert "lora" in str(info.value) and "comment" not in str(info.value)


def test_ancillary_extensions_do_not_change_pixels(cache):
    plain, _ = generate(resolved(), cache=cache, threads=1)
    noted, _ = generate(resolved(extensions={"comment": "hello", "source": {"tool": "x"}}), cache=cache, threads=1)
    assert pixels(noted) == pixels(plain)


def test_eta_refused_where_the_scheduler_ignores_it(cache):
    with pytest.raises(UnsupportedFeature, match="eta"):
        generate(resolved(scheduler="euler", extensions={"eta": 0.5}), cache=cache)
    a, _ = generate(resolved(scheduler="ddim", extensions={"eta": 0.0}), cache=cache, threads=1)
    b, _ = generate(resolved(scheduler="ddim", extensions={"eta": 1.0}), cache=cache, threads=1)
    assert pixels(a) != pixels(b)


def test_batch_index_selects_one_image_of_a_batch(cache):
    first, _ = generate(resolved(extensions={"batch": {"size": 2, "index": 0}}), cache=cache, threads=1)
    second, _ = generate(resolved(extensions={"batch": {"size": 2, "index": 1}}), cache=cache, threads=1)
    assert pixels(first) != pixels(second)


def test_math_attention_is_recorded(cache):
    _, platform = generate(resolved(), cache=cache, attention="math", threads=1)
    assert platform.attention == "math"
    _, platform = generate(resolved(), cache=cache, threads=1)
    assert platform.attention == "sdpa"


def test_bad_options_are_usage_errors(cache):
    with pytest.raises(InvalidSyntax, match="attention"):
        generate(resolved(), cache=cache, attention="warp-drive")
    with pytest.raises(InvalidSyntax, match="dtype"):
        generate(resolved(), cache=cache, dtype="int8")
    with pytest.raises(InvalidSyntax, match="threads"):
        generate(resolved(), cache=cache, threads=0)


def test_embedded_folder_copied_elsewhere_loads_and_matches(cache, tmp_path):
    r = resolved()
    shipped, _ = generate(r, cache=cache, threads=1)
    copy = tmp_path / "tiny-sd-copy"
    shutil.copytree(r.model.source_dir, copy)
    entry = dataclasses.replace(r.model, id=1 << 20, name="tiny-sd-copy", pipeline={**r.model.pipeline, "source": "local", "path": str(copy)})
    moved, _ = generate(dataclasses.replace(r, model=entry), cache=PipelineCache(), threads=1)
    assert pixels(moved) == pixels(shipped)


def test_missing_embedded_folder_is_model_unavailable(tmp_path):
    r = resolved()
    entry = dataclasses.replace(r.model, pipeline={**r.model.pipeline, "source": "local", "path": str(tmp_path / "nope")})
    with pytest.raises(ModelUnavailable, match="tiny-sd"):
        generate(dataclasses.replace(r, model=entry), cache=PipelineCache())


def test_hub_model_without_cache_is_model_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("AIGIF_ALLOW_DOWNLOAD", raising=False)
    r = resolved()
    repo = "aigif-test/no-such-model"
    rev = "0123456789abcdef0123456789abcdef01234567"
    pipeline = {**r.model.pipeline, "source": "hub", "repo": repo, "revision": rev, "path": ""}
    entry = dataclasses.replace(r.model, id=4096, name="not-downloaded", pipeline=pipeline)
    with pytest.raises(ModelUnavailable) as info:
        generate(dataclasses.replace(r, model=entry), cache=PipelineCache())
    message = str(info.value)
    for part in ("not-downloaded", repo, rev, "hf download", "--allow-download"):  # huggingface-cli is gone (issue 16)
        assert part in message


def test_missing_torch_stack_is_missing_extra(monkeypatch):
    from aigif.diffusion import _stack

    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    with pytest.raises(MissingExtra, match=r'aigif\[generate\]'):
        _stack.import_stack()


# -- shipped files and fingerprints ---------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny-sd", "tiny-sdxl"])
def test_shipped_files_match_sha256sums_and_registry(name):
    entry = get_registry().model(name)
    root = entry.source_dir
    listed = {}
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split("  ", 1)
        listed[rel] = digest
    actual = hash_local_weights(entry)
    assert actual == listed
    assert any(f.endswith(".safetensors") for f in listed)
    assert not any(f.endswith((".bin", ".pt", ".ckpt", ".pkl")) for f in listed)  # no pickles
    checks = check_fingerprints(entry, actual)
    assert {c.file for c in checks} == set(listed)
    assert all(c.ok for c in checks)
    weights = sum((root / f).stat().st_size for f in listed if f.endswith(".safetensors"))
    assert weights < 4_000_000


def test_fingerprint_mismatch_and_missing_are_reported(tmp_path):
    entry = get_registry().model("tiny-sd")
    copy = tmp_path / "m"
    shutil.copytree(entry.source_dir, copy)
    unet = copy / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(unet.read_bytes())
    data[-1] ^= 1
    unet.write_bytes(bytes(data))
    (copy / "vae" / "config.json").unlink()
    local = dataclasses.replace(entry, pipeline={**entry.pipeline, "source": "local", "path": str(copy)})
    status = {c.file: c.status for c in check_fingerprints(local, hash_local_weights(local))}
    assert status["unet/diffusion_pytorch_model.safetensors"] == "MISMATCH"
    assert status["vae/config.json"] == "missing"
    assert status["text_encoder/model.safetensors"] == "ok"
    assert hashlib.sha256(bytes(data)).hexdigest() != entry.fingerprints[0]["value"]


def test_tokenizer_covers_any_utf8_prompt(cache):
    pipe = load_pipeline(get_registry().model("tiny-sd"), cache=cache)
    tok = pipe.tokenizer
    ids = tok("Ünïcödé 日本語 🐱 café", add_special_tokens=False).input_ids
    assert ids and tok.unk_token_id not in ids
    common = tok("a beautiful portrait", add_special_tokens=False).input_ids
    assert len(common) == 3  # common words are single tokens


def test_hub_weights_not_in_cache_are_reported_missing():
    entry = get_registry().model("tiny-sd")
    fps = ({"kind": "sha256", "file": "unet/diffusion_pytorch_model.safetensors", "value": "ab" * 32},)
    pipeline = {**entry.pipeline, "source": "hub", "repo": "aigif-test/no-such-model", "revision": "", "path": ""}
    hub = dataclasses.replace(entry, pipeline=pipeline, fingerprints=fps)
    hashes = hash_local_weights(hub)
    assert hashes == {}
    assert [c.status for c in check_fingerprints(hub, hashes)] == ["missing"]


def test_inline_local_folder_loads_through_generic_pipeline_class(tmp_path):
    # An unregistered model given as a folder path resolves to DiffusionPipeline.
    folder = tmp_path / "mine"
    shutil.copytree(get_registry().model("tiny-sd").source_dir, folder)
    r = aigif.resolve(aigif.from_dict({"model": str(folder), "prompt": "a fox", "seed": 3, "steps": 2, "width": 64, "height": 64}))
    image, platform = generate(r, cache=PipelineCache(), threads=1)
    assert image.size == (64, 64) and platform.device == "cpu"


def test_progress_reports_every_step(cache):
    seen = []
    generate(resolved(steps=3), cache=cache, threads=1, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_unavailable_device_is_refused(cache):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal path needs a machine without it")
    with pytest.raises(UnsupportedFeature, match="cuda"):
        generate(resolved(), cache=cache, device="cuda")
