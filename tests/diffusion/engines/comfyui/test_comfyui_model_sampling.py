"""The ModelSamplingDiscrete node in the ComfyUI engine (sampling eps / v_prediction / lcm /
x0 / img_to_img, zsnr on and off; aigif.diffusion.engines.comfyui.model_sampling) against
goldens from ComfyUI's own node and samplers (tests/goldens/comfyui/model_sampling.json;
tools/goldens/comfyui_model_sampling.py, README "model_sampling.json"), and the refusal of
the flow-model patches (ModelSamplingFlux / SD3 / AuraFlow) naming the family they need.

The cases and graphs live here; the golden script imports them.  Tolerance for the graphs:
tests/comfyui_goldens.py; the tables must be bit-exact.
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from comfyui_goldens import (  # noqa: E402  (after the importorskips)
    CKPT, COMFYUI_COMMIT, GOLDENS, TINY, assert_matches, base_graph, decode_save, exported_graph,
    import_and_unpack, node_types, summarise_latent, summarise_pixels)

SAMPLING_CASES = [(s, z) for s in ("eps", "v_prediction", "lcm", "x0", "img_to_img") for z in (False, True)]
SCHEDULERS = ("normal", "karras", "exponential", "simple", "sgm_uniform", "ddim_uniform", "beta")
STEPS = 10
PROBE_SIGMAS = (0.01, 0.03, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 14.6, 50.0, 4000.0)
PROBE_TIMESTEPS = (0.0, 0.5, 1.0, 19.0, 19.5, 100.0, 499.5, 980.0, 998.7, 999.0, 1000.0)
DENOISE_SIGMAS = (14.5, 0.25)  # a batch of two, one high and one low level


def digest(t) -> str:
    return hashlib.sha256(t.contiguous().float().numpy().tobytes()).hexdigest()


def denoise_inputs():
    """Fixed model input and output for calculate_input / calculate_denoised (batch 2)."""
    g = torch.Generator().manual_seed(31)
    return torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)


def sampling_record(ms, calculate_sigmas) -> dict:
    """What the goldens store for one model_sampling object (ComfyUI's or the engine's)."""
    x, out = denoise_inputs()
    sigma = torch.tensor(DENOISE_SIGMAS)
    return {
        "sigmas_sha256": digest(ms.sigmas), "log_sigmas_sha256": digest(ms.log_sigmas), "levels": len(ms.sigmas),
        "sigma_min": float(ms.sigma_min).hex(), "sigma_max": float(ms.sigma_max).hex(),
        "timestep": [int(ms.timestep(torch.tensor(s))) for s in PROBE_SIGMAS],
        "sigma": [float(ms.sigma(torch.tensor(t))).hex() for t in PROBE_TIMESTEPS],
        "percent_to_sigma": [float(ms.percent_to_sigma(p)).hex() for p in (0.0, 0.1, 0.5, 0.9, 1.0)],
        "input_sha256": digest(ms.calculate_input(sigma, x)),
        "denoised_sha256": digest(ms.calculate_denoised(sigma, out, x)),
        "schedules": {name: [float(v).hex() for v in calculate_sigmas(ms, name, STEPS)] for name in SCHEDULERS},
    }


def case_id(sampling, zsnr) -> str:
    return f"{sampling}{'+zsnr' if zsnr else ''}"


def patched(sampling: str, zsnr: bool, sampler: str, scheduler: str, steps: int, cfg: float, seed: int):
    g = base_graph("a bowl of cherries on a table", "blurry")
    g["10"] = {"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["1", 0], "sampling": sampling,
                                                                 "zsnr": zsnr}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["10", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler,
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


def custom_vpred_zsnr():
    """The patched model's levels through BasicScheduler and SamplerCustomAdvanced."""
    g = patched("v_prediction", True, "euler", "normal", 6, 5.0, 3)
    del g["5"]
    g["15"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 11}}
    g["16"] = {"class_type": "CFGGuider", "inputs": {"model": ["10", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                     "cfg": 4.5}}
    g["17"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}}
    g["18"] = {"class_type": "BasicScheduler", "inputs": {"model": ["10", 0], "scheduler": "karras", "steps": 6,
                                                          "denoise": 1.0}}
    g["5"] = {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["15", 0], "guider": ["16", 0],
                                                               "sampler": ["17", 0], "sigmas": ["18", 0],
                                                               "latent_image": ["4", 0]}}
    return g


GRAPHS = {
    "eps_zsnr": patched("eps", True, "euler", "normal", 8, 7.0, 42),
    "v_prediction": patched("v_prediction", False, "dpmpp_2m", "karras", 8, 6.0, 5),
    "lcm": patched("lcm", False, "lcm", "sgm_uniform", 4, 1.5, 9),
    "x0": patched("x0", False, "euler", "simple", 6, 7.0, 1),
    "custom_vpred_zsnr": custom_vpred_zsnr(),
}
LATENT_OUTPUTS = {name: [("5", 0)] for name in GRAPHS}


@pytest.fixture(scope="module")
def golden():
    data = json.loads((GOLDENS / "model_sampling.json").read_text())
    assert data["comfyui_commit"] == COMFYUI_COMMIT
    return data


@pytest.fixture(scope="module")
def resources():
    from aigif.diffusion.engines.a1111.engine import A1111Model
    from aigif.diffusion.engines.comfyui.graph import GraphResources

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = A1111Model.from_pretrained(TINY, name="tiny-sd")
    yield GraphResources(checkpoint=lambda name: model if name == CKPT else None)
    torch.set_num_threads(threads)


@pytest.mark.parametrize("sampling,zsnr", SAMPLING_CASES, ids=[case_id(*c) for c in SAMPLING_CASES])
def test_patched_model_sampling_bit_exact(sampling, zsnr, golden):
    from aigif.diffusion.engines.comfyui.model_sampling import ModelSamplingDiscrete
    from aigif.diffusion.engines.comfyui.schedulers import calculate_sigmas

    ms = ModelSamplingDiscrete().patched(sampling, zsnr)
    assert sampling_record(ms, calculate_sigmas) == golden["samplings"][case_id(sampling, zsnr)]


def test_zsnr_and_lcm_are_what_they_say(golden):
    """zsnr raises the top level to the finite sigma of ComfyUI's last alphas_cumprod; lcm keeps
    50 levels, timesteps 19 ... 999; the plain eps patch is the checkpoint's own sampling."""
    plain, zsnr = golden["samplings"]["eps"], golden["samplings"]["eps+zsnr"]
    assert float.fromhex(zsnr["sigma_max"]) > 4000 > 15 > float.fromhex(plain["sigma_max"])
    assert zsnr["sigma_min"] == plain["sigma_min"]
    assert golden["samplings"]["lcm"]["levels"] == 50 and set(golden["samplings"]["lcm"]["timestep"]) <= {
        20 * k + 19 for k in range(50)}
    from aigif.diffusion.engines.comfyui.model_sampling import ModelSamplingDiscrete
    from aigif.diffusion.engines.comfyui.schedulers import calculate_sigmas

    assert sampling_record(ModelSamplingDiscrete(), calculate_sigmas) == plain


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_patched_graph_against_comfyui(name, golden, resources):
    from aigif.diffusion.engines.comfyui.graph import run_graph

    want = golden["graphs"][name]
    assert want["graph"] == GRAPHS[name]
    result = run_graph(copy.deepcopy(GRAPHS[name]), resources)
    latents = [summarise_latent(result.latent(node, index)) for node, index in LATENT_OUTPUTS[name]]
    (pixels,) = result.images.values()
    assert_matches(latents, summarise_pixels(pixels), want)
    assert want["pixels"]["sha256"] != want["unpatched_pixels_sha256"]  # the patch changes ComfyUI's image


def test_model_sampling_widgets_are_checked(resources):
    from aigif.diffusion.engines.comfyui.graph import run_graph
    from aigif.errors import InvalidSyntax

    for change in ({"sampling": "edm"}, {"zsnr": "true"}, {"zsnr": 1}):
        graph = copy.deepcopy(GRAPHS["x0"])
        graph["10"]["inputs"].update(change)
        with pytest.raises(InvalidSyntax):
            run_graph(graph, resources)


FLOW_PATCHES = {
    "ModelSamplingFlux": ("Flux", {"max_shift": 1.15, "base_shift": 0.5, "width": 1024, "height": 1024}),
    "ModelSamplingSD3": ("SD3", {"shift": 3.0}),
    "ModelSamplingAuraFlow": ("AuraFlow", {"shift": 1.73}),
}


@pytest.mark.parametrize("node_type", sorted(FLOW_PATCHES))
def test_flow_model_patches_are_refused_naming_the_family(node_type, resources):
    """Before any model is loaded, and saying which family the patch needs."""
    from aigif.diffusion.engines.comfyui.graph import run_graph
    from aigif.errors import UnsupportedFeature

    family, widgets = FLOW_PATCHES[node_type]
    graph = copy.deepcopy(GRAPHS["x0"])
    graph["10"] = {"class_type": node_type, "inputs": {"model": ["1", 0], **widgets}}
    calls = []
    refusing = type(resources)(checkpoint=lambda name: calls.append(name))
    with pytest.raises(UnsupportedFeature) as err:
        run_graph(graph, refusing)
    assert f"{node_type} needs the {family} model family, which the ComfyUI engine does not run" in str(err.value)
    assert err.value.details["node_types"] == [node_type] and not calls


@pytest.mark.parametrize("name", ["lcm", "custom_vpred_zsnr"])  # two: the user path is the slow part
def test_patched_graph_user_path(name, golden, resources, tmp_path, capsys):
    """ModelSamplingDiscrete is in extension 19's node table: a PNG carrying the graph ->
    aigif import -> aigif unpack gives ComfyUI's pixels; the exported graph has the same
    nodes and (run again) the same pixels."""
    from aigif.diffusion.engines.comfyui.graph import run_graph

    case = golden["graphs"][name]
    pixels, syntax = import_and_unpack(case["graph"], tmp_path)
    patch = [n for n in syntax["extensions"]["comfyui_graph"] if n["type"] == "ModelSamplingDiscrete"]
    assert [p["inputs"]["sampling"] for p in patch] == [case["graph"]["10"]["inputs"]["sampling"]]
    assert_matches([], summarise_pixels(pixels), {"latents": [], "pixels": case["pixels"]})
    back = exported_graph(syntax)
    assert node_types(back) == node_types(case["graph"])
    (again,) = run_graph(back, resources).images.values()
    assert_matches([], summarise_pixels(again), {"latents": [], "pixels": case["pixels"]})
    capsys.readouterr()


def test_flow_patch_refused_on_the_user_path(tmp_path, capsys):
    """ModelSamplingSD3 is not in extension 19's table: import keeps it by name, unpack refuses
    saying which family it needs (exit 4, no image)."""
    from aigif.cli.main import main

    graph = copy.deepcopy(GRAPHS["x0"])
    graph["10"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 3.0}}
    with pytest.raises(AssertionError):
        import_and_unpack(graph, tmp_path)
    err = capsys.readouterr().err
    assert "ModelSamplingSD3 needs the SD3 model family, which the ComfyUI engine does not run" in err
    assert main(["unpack", str(tmp_path / "in.aigif"), "-o", str(tmp_path / "x.png")]) == 4
    assert not (tmp_path / "back.png").exists() and not (tmp_path / "x.png").exists()
