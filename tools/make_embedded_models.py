#!/usr/bin/env python3
"""Build the embedded test models registry/embedded/tiny-sd, tiny-sdxl and tiny-sdxl-refiner.

Nothing is downloaded: the weights are random-initialised from a fixed torch seed and
the CLIP BPE tokenizer is learnt here from the word list below.  The result must be
byte-identical on every run with the same torch / diffusers / transformers versions
(`--check` rebuilds into a temp dir and compares), because the registry entries pin
the sha256 of every file.

    python tools/make_embedded_models.py            # (re)write the models + registry entries
    python tools/make_embedded_models.py --check    # rebuild in a temp dir, compare sha256s

The registry entries registry/models/0001-tiny-sd.toml, 0002-tiny-sdxl.toml and
0031-tiny-sdxl-refiner.toml are written by this script too, so the recorded hashes can never drift from the files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REGISTRY = REPO / "registry"
SEED = 20241014  # arXiv 2410.09834, the AIGIF paper; any fixed value would do

# The tokenizer is tiny on purpose: byte fallback (all 256 bytes, with and without the
# end-of-word mark, exactly like CLIP's own vocab) makes every UTF-8 prompt tokenizable;
# the merges only make common words cheap, so the text encoder sees something word-like.
COMMON_WORDS = """
a an the of and or in on at to for with by from as is are was be it its this that
these those there here not no yes very more most less few many much some any all each
one two three four five six seven eight nine ten first second last next new old
big small large tiny little long short tall high low wide narrow deep thin thick
good bad best better great beautiful pretty ugly cute happy sad dark light bright
black white red green blue yellow orange purple pink brown gray grey gold golden silver
man woman boy girl child children people person face eyes eye hair hand hands body
cat dog bird horse fish dragon lion tiger wolf fox bear owl rabbit snake butterfly
tree trees forest flower flowers grass garden leaf leaves mountain mountains river
lake sea ocean beach sky cloud clouds sun moon star stars night day morning evening
sunset sunrise rain snow fire water ice wind storm city street house home castle
tower bridge road car train ship boat window door room wall floor table chair book
portrait landscape painting photo photograph picture drawing sketch illustration art
artwork style detailed highly intricate realistic photorealistic hyperrealistic
cinematic lighting dramatic soft sharp focus depth field bokeh render rendered
unreal engine octane concept digital oil watercolor canvas anime manga cartoon
fantasy science fiction futuristic cyberpunk steampunk medieval ancient modern
abstract surreal epic magic magical mystical dreamy vibrant colorful colors color
masterpiece quality resolution trending artstation deviantart behance greg rutkowski
by studio ghibli pixar disney wlop artgerm alphonse mucha van gogh monet
background foreground center close up wide angle view shot camera lens mm
blurry lowres worst low jpeg artifacts watermark text signature bad anatomy
extra fingers deformed disfigured mutated poorly drawn cropped out frame
standing sitting walking running flying looking holding wearing smiling
dress shirt hat armor sword helmet crown robe suit jacket glasses
space planet galaxy nebula robot machine alien monster creature knight warrior
princess queen king wizard witch angel demon god goddess elf fairy
wearing under over inside outside behind between above below near far away
""".split()

# Full merge closure is ~2k entries; capping keeps the embedding table (vocab x 32)
# and therefore the shipped weights small while still covering the words above.
MAX_MERGES = 1500


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode table (the same table CLIP's tokenizer uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def learn_bpe(words: list[str], max_merges: int) -> list[tuple[str, str]]:
    """Plain BPE on the word list (each distinct word weighted 1); ties broken lexically
    so the result depends on nothing but the list."""
    byte_map = bytes_to_unicode()
    seqs = []
    for w in sorted(set(words)):
        chars = [byte_map[b] for b in w.encode("utf-8")]
        chars[-1] += "</w>"
        seqs.append(chars)
    merges: list[tuple[str, str]] = []
    while len(merges) < max_merges:
        counts: dict[tuple[str, str], int] = {}
        for s in seqs:
            for pair in zip(s, s[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        joined = best[0] + best[1]
        for i, s in enumerate(seqs):
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and (s[j], s[j + 1]) == best:
                    out.append(joined)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
    return merges


def write_slow_tokenizer_files(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    """transformers 5 saves only tokenizer.json; transformers 4 maps "CLIPTokenizer" in
    model_index.json to the slow class, which needs vocab.json + merges.txt.  Shipping both
    keeps the embedded models loadable on either major version."""
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (folder / "merges.txt").write_text(text, encoding="utf-8")


def build_tokenizer(pad_token: str):
    from transformers import CLIPTokenizer

    byte_chars = list(bytes_to_unicode().values())
    merges = learn_bpe(COMMON_WORDS, MAX_MERGES)
    vocab_list = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tok = CLIPTokenizer(
        vocab=vocab,
        merges=list(merges),
        pad_token=pad_token,
        model_max_length=77,
    )
    return tok, vocab, merges


def text_config(vocab: dict[str, int]):
    from transformers import CLIPTextConfig

    # 3 layers so clip_skip=2 (A1111: penultimate layer) selects a genuinely different state.
    return CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )


def make_vae():
    from diffusers import AutoencoderKL

    # Two blocks -> one downsample: a 64 px image is a 32x32 latent.  Small but spatial
    # enough that the UNet's attention and resnets are all exercised.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def make_scheduler():
    from diffusers import EulerDiscreteScheduler

    # SD 1.x / SDXL training schedule, so every scheduler swapped in via from_config
    # sees the same betas as with real checkpoints.
    return EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        timestep_spacing="leading",
        steps_offset=1,
    )


def tame_vae_output(vae) -> None:
    """Random decoders saturate to noisy black/white; scaling the last conv down keeps the
    output in mid-range so 8-bit quantisation (what fidelity hashes see) is not mostly
    clamped, which would hide float differences in the platform benchmarks."""
    import torch

    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(0.5)
        vae.decoder.conv_out.bias.zero_()


def build_sd(out: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(SEED)
    tokenizer, vocab, merges = build_tokenizer(pad_token="<|endoftext|>")
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32),  # ~1 MB of fp32 UNet weights
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = make_vae()
    tame_vae_output(vae)
    text_encoder = CLIPTextModel(text_config(vocab))
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    write_slow_tokenizer_files(out / "tokenizer", vocab, merges)


def build_sdxl(out: Path) -> None:
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(SEED + 1)
    tokenizer, vocab, merges = build_tokenizer(pad_token="<|endoftext|>")
    # SDXL's second tokenizer pads with "!" (openclip convention); mirror it so padding
    # differences between the two encoders are exercised as with real checkpoints.
    tokenizer_2, _, _ = build_tokenizer(pad_token="!")
    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32),  # ~1 MB of fp32 UNet weights
        layers_per_block=1,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 1),
        # 6 micro-conditioning ids (original size, crop, target size) + pooled text_encoder_2
        projection_class_embeddings_input_dim=6 * time_dim + 32,
        cross_attention_dim=32 + 32,  # penultimate states of both encoders, concatenated
        norm_num_groups=8,
    )
    vae = make_vae()
    tame_vae_output(vae)
    text_encoder = CLIPTextModel(text_config(vocab))
    text_encoder_2 = CLIPTextModelWithProjection(text_config(vocab))
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=make_scheduler(),
        image_encoder=None,
        feature_extractor=None,
        force_zeros_for_empty_prompt=True,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    write_slow_tokenizer_files(out / "tokenizer", vocab, merges)
    write_slow_tokenizer_files(out / "tokenizer_2", vocab, merges)


def build_sdxl_refiner(out: Path) -> None:
    """SDXL refiner architecture: CLIP-G only (cross-attention 32), a text_time UNet whose
    add embedding takes the pooled text + 5 micro-conditioning values (original size,
    crop, aesthetic score) instead of the base's 6."""
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(SEED + 2)
    tokenizer_2, vocab, merges = build_tokenizer(pad_token="!")
    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=5 * time_dim + 32,
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    vae = make_vae()
    tame_vae_output(vae)
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=vae,
        text_encoder=None,
        text_encoder_2=CLIPTextModelWithProjection(text_config(vocab)),
        tokenizer=None,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=make_scheduler(),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    write_slow_tokenizer_files(out / "tokenizer_2", vocab, merges)


MODELS = {
    "tiny-sd": dict(
        build=build_sd,
        id=1,
        family="sd1",
        pipeline_class="StableDiffusionPipeline",
        description="Embedded test model: SD 1.x architecture, random weights, 64 px",
    ),
    "tiny-sdxl": dict(
        build=build_sdxl,
        id=2,
        family="sdxl",
        pipeline_class="StableDiffusionXLPipeline",
        description="Embedded test model: SDXL architecture (two text encoders), random weights, 64 px",
    ),
    "tiny-sdxl-refiner": dict(
        build=build_sdxl_refiner,
        id=31,
        family="sdxl-refiner",
        pipeline_class="StableDiffusionXLImg2ImgPipeline",
        description="Embedded test model: SDXL refiner architecture (CLIP-G only, aesthetic-score "
                    "conditioning), random weights, 64 px",
    ),
}

DEFAULTS = dict(steps=10, guidance="5.0", width=64, height=64, scheduler="euler", negative_prompt="")
SCHEDULERS = ["euler", "euler_a", "ddim", "pndm", "lms", "dpmpp_2m", "dpmpp_2m_karras", "unipc", "heun"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    }


def write_sums(root: Path, sums: dict[str, str]) -> None:
    text = "".join(f"{h}  {name}\n" for name, h in sums.items())
    (root / "SHA256SUMS").write_text(text, encoding="utf-8")


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def registry_entry(name: str, spec: dict, sums: dict[str, str]) -> str:
    lines = [
        "# Written by tools/make_embedded_models.py - do not edit by hand; rerun the script.",
        f"id = {spec['id']}",
        f"name = {toml_str(name)}",
        f"aliases = [{toml_str('aigif/' + name)}]",
        f"family = {toml_str(spec['family'])}",
        'status = "official"',
        'license = "Apache-2.0"',
        f"description = {toml_str(spec['description'])}",
        "",
        "[defaults]",
        f"steps = {DEFAULTS['steps']}",
        f"guidance = {toml_str(DEFAULTS['guidance'])}",
        f"width = {DEFAULTS['width']}",
        f"height = {DEFAULTS['height']}",
        f"scheduler = {toml_str(DEFAULTS['scheduler'])}",
        f"negative_prompt = {toml_str(DEFAULTS['negative_prompt'])}",
        "",
        "[pipeline]",
        f"class = {toml_str(spec['pipeline_class'])}",
        'source = "embedded"',
        f"path = {toml_str('embedded/' + name)}",
        'repo = ""',
        'revision = ""',
        "revision_verified = false",
        'torch_dtype = "float32"',
        'variant = ""',
        "schedulers = [" + ", ".join(toml_str(s) for s in SCHEDULERS) + "]",
        "gated = false",
        "requires = []",
    ]
    # The UNet first: it is the file that identifies the model (registry lookups by
    # fingerprint use the first sha256 entry).
    order = sorted(sums, key=lambda f: (f != "unet/diffusion_pytorch_model.safetensors", f))
    for f in order:
        lines += [
            "",
            "[[fingerprints]]",
            'kind = "sha256"',
            f"file = {toml_str(f)}",
            f"value = {toml_str(sums[f])}",
            "verified = true",
            'source = "computed by tools/make_embedded_models.py"',
        ]
    return "\n".join(lines) + "\n"


def build_all(dest_root: Path) -> dict[str, dict[str, str]]:
    import torch

    torch.set_num_threads(1)
    result = {}
    for name, spec in MODELS.items():
        out = dest_root / name
        if out.exists():
            shutil.rmtree(out)
        spec["build"](out)
        for p in out.rglob("*"):
            # safetensors writes 0600; repo files must be readable by everyone
            p.chmod(0o755 if p.is_dir() else 0o644)
        result[name] = hash_tree(out)
        write_sums(out, result[name])
    return result


def install(tmp_root: Path, sums: dict[str, dict[str, str]]) -> None:
    """Swap each freshly built folder in whole, so a crash never leaves a half-written model."""
    (REGISTRY / "embedded").mkdir(parents=True, exist_ok=True)
    (REGISTRY / "models").mkdir(parents=True, exist_ok=True)
    for name, spec in MODELS.items():
        target = REGISTRY / "embedded" / name
        old = target.with_name(name + ".old")
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        shutil.move(str(tmp_root / name), str(target))
        if old.exists():
            shutil.rmtree(old)
        entry = REGISTRY / "models" / f"{spec['id']:04d}-{name}.toml"
        tmp = entry.with_suffix(".toml.tmp")
        tmp.write_text(registry_entry(name, spec, sums[name]), encoding="utf-8")
        os.replace(tmp, entry)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare with the shipped files")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(dir=REGISTRY) as tmp:
        sums = build_all(Path(tmp))
        if args.check:
            bad = 0
            for name, files in sums.items():
                shipped = hash_tree(REGISTRY / "embedded" / name)
                for f in sorted(set(files) | set(shipped)):
                    if files.get(f) != shipped.get(f):
                        bad += 1
                        print(f"DIFFERS {name}/{f}: built {files.get(f)} shipped {shipped.get(f)}")
            print("byte-identical" if not bad else f"{bad} file(s) differ")
            return 1 if bad else 0
        install(Path(tmp), sums)
    for name, files in sums.items():
        size = sum((REGISTRY / "embedded" / name / f).stat().st_size for f in files)
        weights = sum((REGISTRY / "embedded" / name / f).stat().st_size for f in files if f.endswith(".safetensors"))
        print(f"{name}: {len(files)} files, {size} bytes ({weights} in safetensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
