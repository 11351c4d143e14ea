"""VAELoader in the ComfyUI engine, end to end on tiny-sd: a VAE file (safetensors, diffusers'
tensor names; or the LDM names most downloaded VAE files carry) read offline into the layout
of the graph's checkpoint VAE, decoding the sampler's latent (tests/goldens/comfyui/vae_loader.json;
tools/goldens/comfyui_vae_loader.py, README "vae_loader.json": ComfyUI's own sampling and
SaveImage, the stand-in decode of the same file, as ComfyUI's VAE class cannot hold a 2x VAE).

The file is made here, deterministically (make_vae_file: tiny-sd's VAE with its decoder
perturbed by a seeded generator), and the golden records the digest of its tensors.
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
np = pytest.importorskip("numpy")

from comfyui_goldens import (  # noqa: E402  (after the importorskips)
    CKPT, COMFYUI_COMMIT, GOLDENS, TINY, assert_matches, base_graph, decode_save, exported_graph,
    import_and_unpack, node_types, summarise_latent, summarise_pixels)

VAE_NAME = "tiny-vae-variant.safetensors"
VAE_SEED = 20261203


def variant_state() -> dict:
    """tiny-sd's VAE tensors with the decoder moved: a file that decodes differently."""
    from safetensors.torch import load_file

    state = load_file(str(TINY / "vae/diffusion_pytorch_model.safetensors"))
    g = torch.Generator().manual_seed(VAE_SEED)
    for name in sorted(state):
        if name.startswith("decoder.") and name.endswith(".weight") and state[name].ndim == 4:
            state[name] = state[name] + 0.05 * state[name].abs().mean() * torch.randn(state[name].shape, generator=g)
    state["decoder.conv_out.bias"] = state["decoder.conv_out.bias"] + torch.tensor([0.08, -0.05, 0.03])
    return {k: v.contiguous() for k, v in state.items()}


def state_digest(state: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode() + b"\0" + state[name].float().numpy().tobytes())
    return h.hexdigest()


def make_vae_file(path) -> str:
    from safetensors.torch import save_file

    state = variant_state()
    save_file(state, str(path))
    return state_digest(state)


def vae_graph():
    g = base_graph("a lighthouse on a cliff", "lowres")
    g["11"] = {"class_type": "VAELoader", "inputs": {"vae_name": VAE_NAME}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 77, "steps": 6, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0), vae=("11", 0))


GRAPHS = {"vae_loader": vae_graph()}
LATENT_OUTPUTS = {"vae_loader": [("5", 0)]}


def ldm_names(state: dict) -> dict:
    """The same tensors under the original LDM (CompVis) names of a one-layer-per-block VAE,
    as most VAE files are published (attention projections as 1x1 convolutions)."""
    out = {}
    ups = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("decoder.up_blocks."))
    for name, value in state.items():
        parts = name.split(".")
        new = name
        if parts[1] == "down_blocks":
            i, kind = parts[2], parts[3]
            rest = ".".join(parts[5:])
            new = f"encoder.down.{i}.block.{parts[4]}.{rest}" if kind == "resnets" else f"encoder.down.{i}.downsample.{rest}"
        elif parts[1] == "up_blocks":
            i, kind = ups - 1 - int(parts[2]), parts[3]
            rest = ".".join(parts[5:])
            new = f"decoder.up.{i}.block.{parts[4]}.{rest}" if kind == "resnets" else f"decoder.up.{i}.upsample.{rest}"
        elif parts[1] == "mid_block":
            if parts[2] == "resnets":
                new = f"{parts[0]}.mid.block_{int(parts[3]) + 1}.{'.'.join(parts[4:])}"
            else:
                attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}[parts[4]]
                tail = parts[-1]
                new = f"{parts[0]}.mid.attn_1.{attn}.{tail}"
                if tail == "weight" and value.ndim == 2:
                    value = value[:, :, None, None]
        elif parts[1] == "conv_norm_out":
            new = f"{parts[0]}.norm_out.{parts[2]}"
        new = new.replace("conv_shortcut", "nin_shortcut")
        out[new] = value.contiguous()
    return out


@pytest.fixture(scope="module")
def golden():
    data = json.loads((GOLDENS / "vae_loader.json").read_text())
    assert data["comfyui_commit"] == COMFYUI_COMMIT
    return data


@pytest.fixture(scope="module")
def model():
    from aigif.diffusion.engines.a1111.engine import A1111Model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield A1111Model.from_pretrained(TINY, name="tiny-sd")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory, golden):
    folder = tmp_path_factory.mktemp("vae")
    assert make_vae_file(folder / VAE_NAME) == golden["vae_file"]["tensors_sha256"]
    return folder


def resources_with(model, vae_dir):
    from aigif.diffusion.engines.a1111.vae import load_vae
    from aigif.diffusion.engines.comfyui.graph import GraphResources

    return GraphResources(checkpoint=lambda name: model if name == CKPT else None,
                          vae=lambda name: load_vae(vae_dir, name, None, like=model.vae))


def test_vae_loader_graph_against_golden(golden, model, vae_dir):
    from aigif.diffusion.engines.comfyui.graph import run_graph

    want = golden["graphs"]["vae_loader"]
    assert want["graph"] == GRAPHS["vae_loader"]
    result = run_graph(copy.deepcopy(GRAPHS["vae_loader"]), resources_with(model, vae_dir))
    latents = [summarise_latent(result.latent(node, index)) for node, index in LATENT_OUTPUTS["vae_loader"]]
    (pixels,) = result.images.values()
    assert_matches(latents, summarise_pixels(pixels), want)
    assert want["pixels"]["sha256"] != want["checkpoint_vae_pixels_sha256"]  # the file is the one decoding


def test_ldm_named_vae_file_decodes_the_same(model, vae_dir, tmp_path):
    """A file with the LDM tensor names (diffusers' own converter reads it) is the same VAE."""
    from safetensors.torch import load_file, save_file

    from aigif.diffusion.engines.a1111.vae import load_vae

    save_file(ldm_names(load_file(str(vae_dir / VAE_NAME))), str(tmp_path / VAE_NAME))
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = load_vae(vae_dir, VAE_NAME, None, like=model.vae).decode(latent).sample
        got = load_vae(tmp_path, VAE_NAME, None, like=model.vae).decode(latent).sample
    assert torch.equal(got, want)


def test_vae_file_that_does_not_fit_is_refused(model, tmp_path):
    from safetensors.torch import save_file

    from aigif.diffusion.engines.a1111.vae import load_vae
    from aigif.errors import UnsupportedFeature

    state = variant_state()
    state["decoder.conv_out.weight"] = torch.zeros(3, 64, 3, 3)  # another family's width
    save_file(state, str(tmp_path / "wide.safetensors"))
    with pytest.raises(UnsupportedFeature, match="does not fit"):
        load_vae(tmp_path, "wide.safetensors", None, like=model.vae)
    save_file({"decoder.conv_out.bias": torch.zeros(3)}, str(tmp_path / "partial.safetensors"))
    with pytest.raises(UnsupportedFeature, match="missing"):
        load_vae(tmp_path, "partial.safetensors", None, like=model.vae)


def test_vae_loader_user_path(golden, model, vae_dir, tmp_path, capsys):
    """A PNG carrying the graph -> aigif import -> aigif unpack --vae-dir gives the golden
    pixels; the exported graph has the same nodes (its VAELoader too) and the same pixels."""
    from aigif.cli.main import main
    from aigif.diffusion.engines.comfyui.graph import run_graph

    case = golden["graphs"]["vae_loader"]
    pixels, syntax = import_and_unpack(case["graph"], tmp_path, "--vae-dir", str(vae_dir))
    assert_matches([], summarise_pixels(pixels), {"latents": [], "pixels": case["pixels"]})
    back = exported_graph(syntax)
    assert node_types(back) == node_types(case["graph"])
    (again,) = run_graph(back, resources_with(model, vae_dir)).images.values()
    assert_matches([], summarise_pixels(again), {"latents": [], "pixels": case["pixels"]})
    status = main(["unpack", str(tmp_path / "in.aigif"), "-o", str(tmp_path / "none.png"), "--threads", "1"])
    assert status != 0 and "VAE" in capsys.readouterr().err  # no VAE folder: refused naming the VAE
    assert not (tmp_path / "none.png").exists()
