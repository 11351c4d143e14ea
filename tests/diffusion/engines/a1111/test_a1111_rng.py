"""The A1111 engine's noise against A1111 v1.10.1's own (tests/goldens/a1111/rng.json,
made by tools/goldens/a1111_rng_goldens.py): bit-exact, compared by the sha256 of the
float32 bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from aigif.diffusion.engines.a1111 import rng  # noqa: E402
from aigif.errors import InvalidSyntax  # noqa: E402

GOLDENS = json.loads((Path(__file__).parents[3] / "goldens" / "a1111" / "rng.json").read_text())


def sha(values) -> str:
    if hasattr(values, "numpy"):
        values = values.detach().cpu().numpy()
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f4").tobytes()).hexdigest()


def check(values, expected):
    values = values.detach().cpu().numpy() if hasattr(values, "numpy") else values
    assert list(values.shape) == expected["shape"]
    assert values.dtype == np.float32
    # the head first, so that a mismatch shows numbers rather than two hashes
    assert [float(v) for v in values.reshape(-1)[:4]] == expected["head"]
    assert sha(values) == expected["sha256"]


def _id(case):
    return f"{case['source']}-{case['seed']}-{'x'.join(map(str, case['draws'][0]['shape']))}"


@pytest.mark.parametrize("case", GOLDENS["single"], ids=_id)
def test_one_generator_three_draws(case):
    choice = rng.resolve_source(case["source"], "cpu")
    generator = rng.create_generator(case["seed"], choice)
    for expected in case["draws"]:
        values = generator.randn(expected["shape"])
        check(values, expected)


@pytest.mark.parametrize("case", GOLDENS["batches"], ids=lambda c: f"{c['source']}-{c['name']}")
def test_image_noise_sequence(case):
    h, w = case["seed_resize_from"]
    noise = rng.ImageNoise(
        case["shape"],
        case["seeds"],
        subseeds=case["subseeds"],
        subseed_strength=case["subseed_strength"],
        seed_resize_from=(h, w),
        eta_noise_seed_delta=case["eta_noise_seed_delta"],
        source=case["source"],
    )
    first, *later = case["draws"]
    check(noise.next(), first)
    template = torch.zeros([len(case["seeds"])] + case["shape"])
    for expected in later:
        check(noise.randn_like(template), expected)


@pytest.mark.parametrize("case", GOLDENS["randn_local"], ids=lambda c: f"{c['source']}-{c['seed']}")
def test_randn_local(case):
    check(rng.randn_local(case["seed"], case["shape"], case["source"]), case["noise"])


def test_goldens_cover_what_the_issue_asks():
    seeds = {c["seed"] for c in GOLDENS["single"]}
    assert len(seeds) >= 20 and {0, 1, 2**32 - 1} <= seeds
    names = {c["name"] for c in GOLDENS["batches"]}
    assert any(n.startswith("variation") for n in names)
    assert any(n.startswith("resize") for n in names)
    assert any(c["eta_noise_seed_delta"] for c in GOLDENS["batches"])
    assert GOLDENS["commit"] == "82a973c04367123ae98bd9abdf80d9eda9b910e2"


def test_nv_draws_are_prefix_consistent_and_offset_driven():
    # a small draw is the head of a bigger one at the same offset; offsets differ
    small = rng.PhiloxGenerator(5).randn((4, 8, 8)).reshape(-1)
    big = rng.PhiloxGenerator(5).randn((4, 64, 64)).reshape(-1)
    assert np.array_equal(small, big[: small.size])
    generator = rng.PhiloxGenerator(5)
    generator.randn((1,))
    assert generator.offset == 1
    assert not np.array_equal(generator.randn((4, 8, 8)).reshape(-1), small)


def test_batch_seeds_follow_a1111():
    assert rng.batch_seeds(10, 20, 0.0, 3) == ([10, 11, 12], [20, 21, 22])
    # with a variation strength every image keeps the seed; the variation seeds count up
    assert rng.batch_seeds(10, 20, 0.5, 3) == ([10, 10, 10], [20, 21, 22])


def test_gpu_source_without_cuda_is_emulated_with_nv_and_says_so():
    choice = rng.resolve_source(None, "cpu")
    assert (choice.requested, choice.used, choice.emulated) == ("GPU", "NV", True)
    assert "NV" in choice.note
    assert rng.resolve_source("GPU", "cuda:0").used == "GPU"
    assert rng.resolve_source("CPU", "cuda").used == "CPU"
    gpu = rng.ImageNoise((4, 8, 8), [3], source="GPU", device="cpu").next()
    nv = rng.ImageNoise((4, 8, 8), [3], source="NV", device="cpu").next()
    assert torch.equal(gpu, nv)


def test_bad_input_is_a_clean_error():
    with pytest.raises(InvalidSyntax):
        rng.resolve_source("TPU")
    with pytest.raises(InvalidSyntax):
        rng.PhiloxGenerator(-1)
    with pytest.raises(InvalidSyntax):
        rng.PhiloxGenerator(2**64)
    with pytest.raises(InvalidSyntax):
        rng.ImageNoise((4, 8), [1])
    with pytest.raises(InvalidSyntax):
        rng.ImageNoise((4, 8, 8), [])
    noise = rng.ImageNoise((4, 8, 8), [1, 2])
    with pytest.raises(ValueError):
        noise.randn_like(torch.zeros(1, 4, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_nv_emulation_equals_cuda_randn():
    for seed in (0, 1, 42, 31337, 2**32 - 1, 123456789, 7, 1000, 2**31, 65536):
        for shape in ((4, 8, 8), (4, 64, 64), (4, 96, 64)):
            generator = torch.Generator("cuda").manual_seed(seed)
            cuda = torch.randn(shape, generator=generator, device="cuda").cpu().numpy()
            assert np.array_equal(cuda, rng.PhiloxGenerator(seed).randn(shape)), (seed, shape)
