"""Write tests/goldens/a1111/conditioning.json from A1111's own text-conditioning code.

    python tools/goldens/a1111_conditioning_goldens.py --a1111 /path/to/stable-diffusion-webui \
        --lark-site /path/with/lark-1.1.2 --commit <hash> --out tests/goldens/a1111/conditioning.json

What runs is A1111's, unchanged, from the checkout given on the command line:
modules/sd_hijack_clip.py (FrozenCLIPEmbedderWithCustomWords and its SDXL CLIP-L
subclass), modules/sd_emphasis.py, modules/prompt_parser.py (get_learned_conditioning,
get_multicond_learned_conditioning, reconstruct_cond_batch, reconstruct_multicond_batch),
and, because the modules that hold them import half of the webui, single definitions
compiled from their files: sd_hijack.EmbeddingsWithFixes, textual_inversion.Embedding /
EmbeddingDatabase / create_embedding_from_data, hashes.calculate_sha256 and
sd_samplers_cfg_denoiser.pad_cond / CFGDenoiser.pad_cond_uncond(_v0).

Around them stands the embedded tiny-sd CLIP (registry/embedded/tiny-sd, transformers'
CLIPTokenizer and CLIPTextModel, local files only) in the shape of ldm's
FrozenCLIPEmbedder (.tokenizer, .transformer); transformers 5 has no `.text_model`
level, so the transformer shim gives one.  The prompts are written here; none comes
from a third-party prompt collection.  The textual-inversion embeddings are made here
(.safetensors in a scratch directory); their values are stored in the golden, so that
the test can write the same files again.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import sys
import tempfile
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import a1111_reference  # noqa: E402

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

ROOT = Path(__file__).resolve().parents[2]
TINY_SD = ROOT / "registry" / "embedded" / "tiny-sd"

DEFAULT_OPTS = dict(
    emphasis="Original", comma_padding_backtrack=20, CLIP_stop_at_last_layers=1,
    use_old_emphasis_implementation=False, textual_inversion_add_hashes_to_infotext=True,
    sdxl_clip_l_skip=False, textual_inversion_print_at_load=False,
)

# -- embeddings: name -> (stored key, vector rows); values are k/64-style fractions so
# that JSON keeps them exactly and the test can write identical files ------------------
def _vectors(seed: int, rows: int, dim: int = 32) -> list[list[float]]:
    return [[((seed * 31 + r * 17 + c * 7) % 29 - 14) / 16.0 for c in range(dim)] for r in range(rows)]


EMBEDDINGS = [
    # file stem, key in the file, rows (None: one 1-D vector), dim
    ("cat", "emb_params", 2, 32),          # a name that is one vocabulary word
    ("catdog", "emb_params", 3, 32),       # same first token as "cat": the longer name wins
    ("mystyle", "emb_params", 4, 32),      # a name of several tokens
    ("flat1d", "emb_params", None, 32),    # a 1-D vector (diffusers concept): one row
    ("wide", "emb_params", 1, 48),         # wrong width for this CLIP: skipped by A1111
    ("twokeys", None, 1, 32),              # two tensors in the file: refused by A1111
    ("big", "emb_params", 30, 32),         # 30 vectors: pushes a chunk over 75 tokens
    ("odd,name", "emb_params", 1, 32),     # ',' is dropped from the infotext name
    ("col:on", "emb_params", 1, 32),       # so is ':'; such a name only matches with emphasis "None"
]


def embedding_tensors(stem: str, key: str | None, rows, dim: int, seed: int) -> dict:
    import torch

    if key is None:
        return {"a": torch.tensor(_vectors(seed, 1, dim)), "b": torch.tensor(_vectors(seed + 1, 1, dim))}
    values = torch.tensor(_vectors(seed, rows or 1, dim), dtype=torch.float32)
    return {key: values[0] if rows is None else values}


def write_embeddings(directory: Path) -> list[dict]:
    import safetensors.torch

    records = []
    for seed, (stem, key, rows, dim) in enumerate(EMBEDDINGS):
        tensors = embedding_tensors(stem, key, rows, dim, seed)
        path = directory / f"{stem}.safetensors"
        safetensors.torch.save_file(tensors, str(path))
        records.append({
            "file": path.name, "seed": seed, "key": key, "rows": rows, "dim": dim,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "tensors": {k: v.tolist() for k, v in tensors.items()},
        })
    return records


# -- A1111's pieces that live in modules too heavy to import --------------------------
def compile_definitions(path: Path, names: set[str], namespace: dict, class_name: str | None = None):
    """Execute the top-level definitions `names` of `path` (or, with class_name, the
    methods of that class as plain functions) in `namespace`, unchanged."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    body = tree.body
    if class_name is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == class_name).body
    found = set()
    for node in body:
        if getattr(node, "name", None) in names:
            exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
            found.add(node.name)
    missing = names - found
    if missing:
        raise SystemExit(f"{path}: no definition of {sorted(missing)}")


class TransformerShim:
    """ldm's FrozenCLIPEmbedder.transformer as A1111 uses it: callable like a CLIPTextModel,
    with the CLIPTextTransformer at .text_model (transformers 5 dropped that level)."""

    def __init__(self, model):
        self.text_model = model
        self.model = model

    def __call__(self, input_ids, output_hidden_states=None):
        return self.model(input_ids=input_ids, output_hidden_states=output_hidden_states)


def build(checkout: str, lark_site: str | None):
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer

    ref = a1111_reference.load(checkout, lark_site)
    ref.opts.__dict__.update(DEFAULT_OPTS)
    modules = sys.modules["modules"]
    devices = sys.modules["modules.devices"]
    devices.torch_npu_set_device = lambda: None
    devices.cond_cast_unet = lambda x: x
    devices.autocast = contextlib.nullcontext
    shared = sys.modules["modules.shared"]
    shared.cmd_opts = types.SimpleNamespace(no_hashing=False)

    checkout_modules = ref.checkout / "modules"
    hashes = types.ModuleType("modules.hashes")
    ns = {"hashlib": hashlib}
    compile_definitions(checkout_modules / "hashes.py", {"calculate_sha256"}, ns)
    hashes.sha256 = lambda filename, title, use_addnet_hash=False: ns["calculate_sha256"](filename)

    sd_hijack = types.ModuleType("modules.sd_hijack")
    sd_hijack.__dict__.update(torch=torch, devices=devices)
    compile_definitions(checkout_modules / "sd_hijack.py", {"EmbeddingsWithFixes"}, sd_hijack.__dict__)
    sys.modules["modules.sd_hijack"] = sd_hijack
    modules.sd_hijack = sd_hijack

    errors_stub = types.SimpleNamespace(report=lambda message, exc_info=False: REPORTS.append(message))
    ti = {"os": __import__("os"), "torch": torch, "safetensors": __import__("safetensors.torch"),
          "shared": shared, "devices": devices, "hashes": hashes, "errors": errors_stub}
    compile_definitions(checkout_modules / "textual_inversion" / "textual_inversion.py",
                        {"Embedding", "DirWithTextualInversionEmbeddings", "EmbeddingDatabase",
                         "create_embedding_from_data"}, ti)

    cfg = {"torch": torch, "shared": shared}
    compile_definitions(checkout_modules / "sd_samplers_cfg_denoiser.py", {"pad_cond"}, cfg)
    compile_definitions(checkout_modules / "sd_samplers_cfg_denoiser.py",
                        {"pad_cond_uncond", "pad_cond_uncond_v0"}, cfg, class_name="CFGDenoiser")

    empty_db, loaded_db = ti["EmbeddingDatabase"](), ti["EmbeddingDatabase"]()
    hijack = types.SimpleNamespace(fixes=None, embedding_db=loaded_db, extra_generation_params={})
    sd_hijack.model_hijack = hijack
    sd_hijack_clip = ref.module("sd_hijack_clip")
    prompt_parser = ref.module("prompt_parser")

    tokenizer = CLIPTokenizer.from_pretrained(str(TINY_SD / "tokenizer"), local_files_only=True)
    model = CLIPTextModel.from_pretrained(str(TINY_SD / "text_encoder"), local_files_only=True).eval()
    model.embeddings.token_embedding = sd_hijack.EmbeddingsWithFixes(model.embeddings.token_embedding, hijack)

    def wrapper(layer=None, layer_idx=None):
        wrapped = torch.nn.Module()
        wrapped.tokenizer = tokenizer
        wrapped.transformer = TransformerShim(model)
        wrapped.layer, wrapped.layer_idx = layer, layer_idx
        return wrapped

    clip = sd_hijack_clip.FrozenCLIPEmbedderWithCustomWords(wrapper(), hijack)
    sdxl_l = sd_hijack_clip.FrozenCLIPEmbedderForSDXLWithCustomWords(wrapper("hidden", -2), hijack)
    shared.sd_model = types.SimpleNamespace(cond_stage_model=clip)
    return types.SimpleNamespace(model=model, ref=ref, opts=ref.opts, empty_db=empty_db, loaded_db=loaded_db, clip=clip, sdxl_l=sdxl_l, hijack=hijack,
                                 prompt_parser=prompt_parser, cfg=cfg, shared=shared, torch=torch,
                                 tokenizer=tokenizer)


REPORTS: list[str] = []

# The tiny-sd CLIP's final layer norm has weight 1 and bias 0, so every output vector has
# mean 0 and the batch mean that "Original" emphasis restores is rounding noise (0/0 gives
# NaN, x/0 inf).  Each case is therefore also run with this bias in that layer norm (a
# made-up model, written the same way by the test), where the means are meaningful.
BIAS = [((i * 5) % 11 - 3) / 16 for i in range(32)]


@contextlib.contextmanager
def biased_final_norm(model):
    import torch

    saved = model.final_layer_norm.bias.detach().clone()
    with torch.no_grad():
        model.final_layer_norm.bias.copy_(torch.tensor(BIAS))
    try:
        yield
    finally:
        with torch.no_grad():
            model.final_layer_norm.bias.copy_(saved)


def digest(tensor) -> dict:
    import numpy as np

    values = np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype="<f4")
    flat = values.reshape(-1)
    picks = sorted({0, 1, flat.size // 3, flat.size // 2, flat.size - 1}) if flat.size else []
    return {
        "shape": list(values.shape),
        "sha256": hashlib.sha256(values.tobytes()).hexdigest(),
        "max_abs": float(np.abs(flat).max()) if flat.size else 0.0,
        "head": [float(v) for v in flat[:4]],
        "values": {str(i): float(flat[i]) for i in picks},
    }


# -- prompts ---------------------------------------------------------------------------
WORDS = ["red", "blue", "boat", "dog", "castle", "dragon", "city", "night", "beach", "bird"]


def words(n: int, start: int = 0) -> str:
    """n single-token words (each of WORDS is one token of the tiny vocabulary)."""
    return " ".join(WORDS[(start + i) % len(WORDS)] for i in range(n))


def comma_at(position: int, total: int) -> str:
    """A prompt of `total` tokens whose only comma is token `position` (0-based)."""
    return words(position) + ", " + words(total - position - 1, position + 1)


def long_prompts() -> dict[str, str]:
    return {
        "exactly 75 tokens": words(75),
        "76 tokens, no comma": words(76),
        "150 tokens, no comma": words(150),
        "151 tokens, no comma": words(151),
        "comma at 74 (last slot), 80 tokens": comma_at(74, 80),
        "comma at 55 (back-off distance 20), 80 tokens": comma_at(55, 80),
        "comma at 54 (distance 21: no back-off), 80 tokens": comma_at(54, 80),
        "comma at 75 (first of chunk 2), 80 tokens": comma_at(75, 80),
        "commas every 10 tokens, 200 tokens": ", ".join(words(9, i) for i in range(20)),
        "comma back-off twice": words(60) + ", " + words(30) + ", " + words(60),
        "long with emphasis across the boundary": words(70) + " (" + words(10, 3) + ":1.3) " + words(5),
        "long with BREAK": words(40) + " BREAK " + words(50) + " BREAK " + words(3),
        "long descriptive": ("a beautiful ancient castle above the clouds at night, dramatic lighting, "
                             "highly detailed digital painting, artstation, concept art, sharp focus, "
                             "cinematic, colorful, red dragon flying between blue clouds, a small boat "
                             "on the beach below, children and a dog watching, deep depth of field, "
                             "bokeh, dreamy, fantasy, realistic, best quality"),
    }


SHORT_PROMPTS = {
    "plain": "a red cat",
    "empty": "",
    "spaces": "   ",
    "commas only": ", , ,",
    "sentence": "A photo of a Cat sitting on a chair, highly detailed",
    "unicode accents": "café crème, naïve façade",
    "unicode cjk and emoji": "日本の城 🐉 夜 ☕",
    "unicode mixed": "Ærøskøbing — “quotes” ½ ©",
    "emphasis round": "a (red) cat",
    "emphasis double": "a ((red)) cat",
    "emphasis square": "a [red] cat",
    "emphasis weight": "a (red:1.5) cat",
    "emphasis low weight": "a (red:0.25) cat",
    "emphasis zero weight": "a (red:0) cat",
    "emphasis negative weight": "a (red:-0.5) cat",
    "emphasis nested": "((a (red:1.3)) [blue [dog]]) castle",
    "emphasis unbalanced": "(a red cat",
    "emphasis escaped": r"a \(red\) cat \[dog\]",
    "emphasis backslash": "a \\\\ cat",
    "emphasis whole prompt": "(a red cat:1.2)",
    "BREAK": "a red cat BREAK a blue dog",
    "BREAK only": "BREAK",
    "BREAK twice": "a BREAK BREAK b",
    "BREAK at start": "BREAK a cat",
    "BREAK at end": "a cat BREAK",
    "BREAK inside emphasis": "(a BREAK b:1.2)",
    "BREAK glued": "aBREAKb BREAKfast",
    "lower-case break": "a break b",
}

EMBEDDING_PROMPTS = {
    "embedding word": "a cat on a chair",
    "embedding longest match": "catdog in the city",
    "embedding multi-token name": "painting in mystyle, night",
    "embedding 1-D vector": "flat1d castle",
    "embedding skipped (wrong width)": "wide beach",
    "embedding refused (two tensors)": "twokeys bird",
    "embedding emphasised": "(mystyle:1.3) and [cat]",
    "embedding comma in name": "odd,name dragon",
    "embedding colon in name": "col:on dragon",
    "embedding does not fit the chunk": words(70) + " mystyle " + words(5),
    "embedding moved by comma back-off": words(60) + ", " + words(10) + " mystyle " + words(10),
    "embedding of 30 vectors twice": "big city " + "big dog " + words(30),
    "embedding inside a word": "cats bigger",
}

# (label, texts, option overrides, embedder, with the embeddings loaded) run through
# the embedder's forward; only the cases that say so see the embeddings
def cases() -> list[tuple[str, list[str], dict, str, bool]]:
    out = []
    for label, prompt in {**SHORT_PROMPTS, **long_prompts()}.items():
        out.append((label, [prompt], {}, "sd1"))
    for label, prompt in EMBEDDING_PROMPTS.items():
        out.append((label, [prompt], {}, "sd1", True))
    probe = "a (red:1.5) cat, [blue] dog BREAK " + words(80)
    for skip in (2, 3):
        out.append((f"clip skip {skip}", [probe], {"CLIP_stop_at_last_layers": skip}, "sd1"))
        out.append((f"clip skip {skip} short", ["a (red) cat"], {"CLIP_stop_at_last_layers": skip}, "sd1"))
    for emphasis in ("No norm", "None", "Ignore"):
        out.append((f"emphasis {emphasis}", [probe], {"emphasis": emphasis}, "sd1"))
    out.append(("emphasis None, embeddings", ["col:on dragon, (cat)"], {"emphasis": "None"}, "sd1", True))
    out.append(("emphasis None with BREAK", ["a BREAK (b:1.2)"], {"emphasis": "None"}, "sd1"))
    for backtrack in (0, 1, 74):
        out.append((f"comma_padding_backtrack {backtrack}",
                    [comma_at(55, 80)], {"comma_padding_backtrack": backtrack}, "sd1"))
    out.append(("comma_padding_backtrack 74, comma at 1", [comma_at(1, 80)], {"comma_padding_backtrack": 74}, "sd1"))
    out.append(("batch of three lengths", ["a cat", words(100), "(dog:1.4) " + words(160)], {}, "sd1"))
    out.append(("batch with repeated text", ["a cat", "a dog", "a cat"], {}, "sd1"))
    out.append(("batch with embeddings", ["mystyle cat", words(76) + " catdog"], {}, "sd1", True))
    out.append(("batch with embeddings, no hashes", ["mystyle cat"],
                {"textual_inversion_add_hashes_to_infotext": False}, "sd1", True))
    out.append(("clip skip 2 with embeddings", ["(mystyle:1.2), cat " + words(80)],
                {"CLIP_stop_at_last_layers": 2}, "sd1", True))
    out.append(("pad token differs (SD2-style)", ["a (red) cat", words(90)], {}, "pad0"))
    out.append(("SDXL CLIP-L hidden layer", [probe], {}, "sdxl_l"))
    out.append(("SDXL CLIP-L with clip skip 2", [probe], {"sdxl_clip_l_skip": True, "CLIP_stop_at_last_layers": 2}, "sdxl_l"))
    out.append(("SDXL CLIP-L clip skip setting off", [probe], {"CLIP_stop_at_last_layers": 3}, "sdxl_l"))
    return [case if len(case) == 5 else case + (False,) for case in out]


SCHEDULE_CASES = [
    # (label, prompts, negative prompts, steps, hires steps, old scheduling)
    ("edit at 5 of 10", ["a [red:blue:5] cat"], [""], 10, None, False),
    ("edit at fraction", ["a [red:blue:0.5] cat, [castle::0.3]"], ["bad, blurry"], 8, None, False),
    ("alternation", ["a [cat|dog] in the city"], ["blurry"], 6, None, False),
    ("AND with weights", ["a red cat AND a blue dog :0.5 AND castle:-0.25"], [""], 4, None, False),
    ("AND with edits", ["a [red:blue:2] cat AND [dog:bird:3] :1.5"], ["low quality"], 5, None, False),
    ("long prompt, short negative", [words(100)], ["blurry"], 3, None, False),
    ("short prompt, long negative", ["a cat"], [words(160)], 3, None, False),
    ("AND sub-prompts of different lengths", ["a cat AND " + words(90)], [words(200)], 3, None, False),
    ("batch of two", ["a [red:blue:2] cat", "a dog AND castle"], ["", "blurry [bad:good:1]"], 4, None, False),
    ("hires steps", ["a [red:blue:15] cat [x:y:0.5]"], [""], 10, 20, False),
    ("hires steps, old scheduling", ["a [red:blue:0.5] cat"], [""], 10, 20, True),
]


def run_case(env, label, texts, overrides, model_kind, with_embeddings):
    env.opts.__dict__.update(DEFAULT_OPTS)
    env.opts.__dict__.update(overrides)
    env.hijack.extra_generation_params = {}
    env.hijack.embedding_db = env.loaded_db if with_embeddings else env.empty_db
    embedder = env.sdxl_l if model_kind == "sdxl_l" else env.clip
    saved_pad = embedder.id_pad
    if model_kind == "pad0":
        embedder.id_pad = 0
    try:
        batch_chunks, token_count = embedder.process_texts(texts)
        with env.torch.no_grad():
            z = embedder(texts)
            params = dict(env.hijack.extra_generation_params)
            with biased_final_norm(env.model):
                z_biased = embedder(texts)
    finally:
        embedder.id_pad = saved_pad
    return {
        "label": label, "texts": texts, "options": overrides, "model": model_kind,
        "embeddings": with_embeddings,
        "token_count": token_count,
        "chunks": [[{"tokens": list(c.tokens), "multipliers": [float(m) for m in c.multipliers],
                     "fixes": [[f.offset, f.embedding.name] for f in c.fixes]} for c in chunks]
                   for chunks in batch_chunks],
        "extra_generation_params": params,
        "cond": digest(z),
        "cond_biased": digest(z_biased),
    }


def run_schedule(env, label, prompts, negatives, steps, hires, old):
    env.opts.__dict__.update(DEFAULT_OPTS)
    env.hijack.embedding_db = env.empty_db
    pp = env.prompt_parser
    model = types.SimpleNamespace(get_learned_conditioning=lambda texts: env.clip(texts))
    # with the biased layer norm (see BIAS), so that the tensors compared are not noise
    with env.torch.no_grad(), biased_final_norm(env.model):
        c = pp.get_multicond_learned_conditioning(model, pp.SdConditioning(prompts), steps, hires, old)
        uc = pp.get_learned_conditioning(model, pp.SdConditioning(negatives, is_negative_prompt=True), steps, hires, old)
        empty = env.clip([""])
    env.shared.sd_model.cond_stage_model_empty_prompt = empty
    total = hires if hires is not None and not old else steps
    per_step = []
    for step in range(total + 2):
        conds_list, tensor = pp.reconstruct_multicond_batch(c, step)
        uncond = pp.reconstruct_cond_batch(uc, step)
        entry = {"step": step, "conds_list": [[list(x) for x in row] for row in conds_list],
                 "cond": digest(tensor), "uncond": digest(uncond)}
        for mode in ("pad_cond_uncond", "pad_cond_uncond_v0"):
            me = types.SimpleNamespace()
            a, b = env.cfg[mode](me, tensor.clone(), uncond.clone())
            entry[mode] = {"cond": digest(a), "uncond": digest(b),
                           "padded": bool(getattr(me, "padded_cond_uncond", False) or getattr(me, "padded_cond_uncond_v0", False))}
        per_step.append(entry)
    return {
        "label": label, "prompts": prompts, "negative_prompts": negatives, "steps": steps,
        "hires_steps": hires, "use_old_scheduling": old,
        "cond_schedules": [[[[s.end_at_step for s in comp.schedules], comp.weight] for comp in row] for row in c.batch],
        "uncond_schedules": [[s.end_at_step for s in sched] for sched in uc],
        "empty_prompt": digest(empty),
        "per_step": per_step,
    }


def dump(golden: dict) -> str:
    """JSON with one case per line, so that a regenerated file diffs case by case."""
    lines = ["{"]
    for n, (key, value) in enumerate(golden.items()):
        comma = "," if n + 1 < len(golden) else ""
        if isinstance(value, list):
            items = [json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in value]
            lines.append(f" {json.dumps(key)}: [\n  " + ",\n  ".join(items) + f"\n ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, separators=(',', ':'))}{comma}")
    return "\n".join(lines) + "\n}\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a1111", required=True)
    parser.add_argument("--lark-site")
    parser.add_argument("--commit", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import safetensors
    import torch
    import transformers

    env = build(args.a1111, args.lark_site)
    with tempfile.TemporaryDirectory() as scratch:
        files = write_embeddings(Path(scratch))
        db = env.loaded_db
        db.add_embedding_dir(scratch)
        with torch.no_grad():
            db.load_textual_inversion_embeddings(force_reload=True)
        embeddings = {
            "files": files,
            "loaded": {name: {"vectors": int(e.vectors), "shape": int(e.shape), "hash": e.hash,
                              "shorthash": e.shorthash, "checksum": e.checksum()}
                       for name, e in db.word_embeddings.items()},
            "skipped": sorted(db.skipped_embeddings),
            "refused": sorted(m.replace("Error loading embedding ", "") for m in REPORTS),
            "expected_shape": int(db.expected_shape),
            "ids_lookup": {str(k): [[list(ids), e.name] for ids, e in v] for k, v in sorted(db.ids_lookup.items())},
        }
        results = [run_case(env, *case) for case in cases()]
        # two forwards without clearing the webui's extra params, as for a negative
        # prompt and then a prompt: A1111 puts the new hashes before the old string
        env.opts.__dict__.update(DEFAULT_OPTS)
        env.hijack.embedding_db = env.loaded_db
        env.hijack.extra_generation_params = {}
        accumulation = {"texts": [["odd,name cat"], ["mystyle cat, odd,name"]], "after": []}
        with torch.no_grad():
            for texts in accumulation["texts"]:
                env.clip(texts)
                accumulation["after"].append(env.hijack.extra_generation_params.get("TI hashes"))
        embeddings["ti_hashes_accumulation"] = accumulation
    schedules = [run_schedule(env, *case) for case in SCHEDULE_CASES]

    golden = {
        "source": {
            "repository": "https://github.com/AUTOMATIC1111/stable-diffusion-webui",
            "commit": args.commit,
            "functions": ["modules/sd_hijack_clip.py FrozenCLIPEmbedderWithCustomWords(.process_texts, .forward)",
                          "modules/sd_hijack_clip.py FrozenCLIPEmbedderForSDXLWithCustomWords.forward",
                          "modules/sd_emphasis.py", "modules/sd_hijack.py EmbeddingsWithFixes",
                          "modules/textual_inversion/textual_inversion.py EmbeddingDatabase",
                          "modules/prompt_parser.py get_(multicond_)learned_conditioning, reconstruct_(multi)cond_batch",
                          "modules/sd_samplers_cfg_denoiser.py CFGDenoiser.pad_cond_uncond(_v0)"],
            "text_encoder": "registry/embedded/tiny-sd (CLIPTokenizer, CLIPTextModel)",
            "python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
        },
        "numerics": _numerics.describe(torch),
        "default_options": DEFAULT_OPTS,
        "biased_final_layer_norm_bias": BIAS,
        "embeddings": embeddings,
        "cases": results,
        "schedules": schedules,
    }
    Path(args.out).write_text(dump(golden), encoding="utf-8")
    print(f"{len(results)} embedder cases, {len(schedules)} schedule cases -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
