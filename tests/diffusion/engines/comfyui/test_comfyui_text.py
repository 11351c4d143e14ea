"""ComfyUI's CLIPTextEncode / CLIPSetLastLayer (aigif.diffusion.engines.comfyui.text) against
goldens made by running ComfyUI's own comfy/sd1_clip.py around the embedded tiny-sd CLIP
(tests/goldens/comfyui/text.json; tools/goldens/comfyui_text.py, README "text.json").

The prompt list lives here; the golden script imports it.  Per prompt: the (token, weight)
chunks exactly, then cond and pooled output bit-exact (sha256 of the float32 bytes) at
clip skip None / -1 / -2 / -3 / -5 (the tiny CLIP has 3 layers: -5 is ComfyUI's "too deep,
take the last" rule) and with the float32 text-encoder option.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

GOLDENS = Path(__file__).parents[3] / "goldens/comfyui"
TINY = Path(__file__).resolve().parents[4] / "registry/embedded/tiny-sd"
COMFYUI_COMMIT = "637221995f7424a561bd825de3e61ea117dfe1e3"

LONG = ", ".join(["a red fox in the snow"] * 14)
PROMPTS = (
    "",
    "a cat",
    "a photo of a cat sitting on a chair",
    "(a cat)",
    "((a cat))",
    "(((a cat)))",
    "(a cat:1.5)",
    "(a cat:0.5), a dog",
    "(a cat:0)",
    "(a cat:-1.25)",
    "[a cat]",
    "[a cat:0.5]",
    "(a:b:1.2)",
    "(a cat:1.2e0) and (a dog: 0.8 )",
    "(a cat:xyz)",
    "(:1.3) empty",
    "(a cat",
    "a cat)",
    "a cat) (a dog",
    "\\(a cat\\)",
    "\\(a cat:1.5\\)",
    "(\\(nested\\) cat:1.3)",
    "((a cat:1.4) on a (chair:0.7):1.2)",
    "a (red:1.1) (green) ((blue)) fox",
    "masterpiece, best quality, (ultra detailed:1.2), 1girl, solo, (looking at viewer), [bad hands]",
    "AND BREAK a cat AND a dog BREAK",
    "a cat [from:to:0.5] {curly} <lora:x:1>",
    "numbers 123 4.5 1e3 :: ::: ,,, ...",
    "UPPER case Ünïcödé 猫 🐱",
    "tab\tand\nnewline",
    LONG,
    "(" + LONG + ":1.1)",
    "supercalifragilisticexpialidocious " * 20,
    "(" + "supercalifragilisticexpialidocious " * 3 + ":1.3) " + LONG,
    "a" + " (b:1.2)" * 60,
)
CLIP_LAYERS = (None, -1, -2, -3, -5)


def digest(tensor) -> str:
    return hashlib.sha256(tensor.contiguous().float().numpy().tobytes()).hexdigest()


def token_summary(chunks):
    return [[[int(t), float(w)] for t, w in chunk] for chunk in chunks]  # JSON floats round-trip exactly


@pytest.fixture(scope="module")
def golden():
    return json.loads((GOLDENS / "text.json").read_text())


@pytest.fixture(scope="module")
def tiny_clip():
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(TINY / "tokenizer")
    model = CLIPTextModel.from_pretrained(TINY / "text_encoder").eval()
    return tokenizer, model


def test_golden_header(golden):
    assert golden["comfyui_commit"] == COMFYUI_COMMIT
    assert [c["prompt"] for c in golden["cases"]] == list(PROMPTS)


def test_tokens_and_weights_exact(golden, tiny_clip):
    from aigif.diffusion.engines.comfyui.text import tokenize_with_weights

    tokenizer, _ = tiny_clip
    for case in golden["cases"]:
        assert token_summary(tokenize_with_weights(case["prompt"], tokenizer)) == case["tokens"], case["prompt"]


def test_cond_and_pooled_bit_exact(golden, tiny_clip):
    from aigif.diffusion.engines.comfyui.text import ComfyClip

    tokenizer, model = tiny_clip
    encoders = {"float16": ComfyClip(tokenizer, model), "float32": ComfyClip(tokenizer, model, torch.float32)}
    checked = 0
    for case in golden["cases"]:
        for run in case["encodings"]:
            clip = encoders[run["weight_dtype"]]
            cond, pooled = clip.encode_text(case["prompt"], run["layer_idx"])
            where = (case["prompt"][:40], run["layer_idx"], run["weight_dtype"])
            assert list(cond.shape) == run["cond_shape"], where
            assert digest(cond) == run["cond_sha256"], where
            assert digest(pooled) == run["pooled_sha256"], where
            checked += 1
    assert checked == len(PROMPTS) * len(CLIP_LAYERS) + len(PROMPTS)


def test_weights_differ_from_a1111_semantics(tiny_clip):
    """(x:1.5) moves a token's vector away from the empty prompt's, not by a plain multiply."""
    from aigif.diffusion.engines.comfyui.text import ComfyClip

    tokenizer, model = tiny_clip
    clip = ComfyClip(tokenizer, model)
    weighted, _ = clip.encode_text("(a cat:1.5)")
    assert not torch.equal(clip.encode_text("a cat")[0], weighted)
    # The unweighted and empty-prompt vectors of the same forward pass as the weighted
    # encode ([prompt, empty] in one batch, as ComfyUI runs it): under portable CPU numerics
    # oneMKL's reproducible GEMM may round a row differently at another batch size.
    rows = [[t for t, _ in chunk] for chunk in clip.tokenize("(a cat:1.5)")]
    assert rows == [[t for t, _ in chunk] for chunk in clip.tokenize("a cat")]
    special = clip.special
    out, _ = clip.forward(rows + [[special.start, special.end] + [special.pad] * (len(rows[0]) - 2)], None)
    plain, empty = out[0:1], out[1:2]
    # untouched positions (start token, padding) keep the unweighted encoding
    assert torch.equal(plain[0, 0], weighted[0, 0]) and torch.equal(plain[0, 10:], weighted[0, 10:])
    expected = (plain[0, 1] - empty[0, 1]) * 1.5 + empty[0, 1]
    assert torch.equal(weighted[0, 1], expected)


def test_parser_rules():
    from aigif.diffusion.engines.comfyui.text import prompt_weights

    assert prompt_weights("[a]") == [("[a]", 1.0)]
    assert prompt_weights("(a:b:2)") == [("a:b", 2.0)]
    assert prompt_weights("((a))") == [("a", 1.0 * 1.1 * 1.1)]
    assert prompt_weights("(a:x)") == [("a:x", 1.1)]
    assert prompt_weights("\\(a\\)") == [("(a)", 1.0)]


def test_refusals(tiny_clip):
    from aigif.diffusion.engines.comfyui.text import check_last_layer, prompt_weights, tokenize_with_weights
    from aigif.errors import InvalidSyntax, LimitExceeded, UnsupportedFeature

    tokenizer, _ = tiny_clip
    with pytest.raises(UnsupportedFeature):
        tokenize_with_weights("a cat embedding:easynegative", tokenizer)
    with pytest.raises(InvalidSyntax):
        prompt_weights("(a:nan)")
    with pytest.raises(InvalidSyntax):
        prompt_weights("(a:inf)")
    with pytest.raises(LimitExceeded):
        prompt_weights("(" * 200 + "a" + ")" * 200)
    with pytest.raises(LimitExceeded):
        prompt_weights("a" * 200_000)
    with pytest.raises(LimitExceeded):
        tokenize_with_weights("a cat, " * 3000, tokenizer)
    for bad in (0, 1, -25, True, "-2", -2.0):
        with pytest.raises(InvalidSyntax):
            check_last_layer(bad)
    assert check_last_layer(-2) == -2
