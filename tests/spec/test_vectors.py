"""Every conformance vector of spec/vectors decodes to its JSON or fails with its code."""

import json
from pathlib import Path

import pytest

import aigif
from aigif.cli.main import main
from aigif.errors import AigifError

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"
INDEX = json.loads((VECTORS / "index.json").read_text())
EXIT = {"E_TRUNCATED": 3, "E_SIGNATURE": 3, "E_CRC": 3, "E_TRAILING": 3, "E_SEGMENT": 3, "E_FIELD": 3, "E_TEXT": 3,
        "E_VERSION": 4, "E_CRITICAL": 4, "E_TEXT_CODEC": 4, "E_LIMIT": 5}


def test_there_are_enough_vectors():
    assert len(INDEX["valid"]) >= 15 and len(INDEX["invalid"]) >= 25


@pytest.mark.parametrize("name", sorted(INDEX["valid"]))
def test_valid_vector(name):
    data = (VECTORS / f"{name}.aigif").read_bytes()
    expected = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    assert aigif.to_dict(aigif.decode(data)) == expected


@pytest.mark.parametrize("name", sorted(INDEX["invalid"]))
def test_invalid_vector(name, capsys):
    data = (VECTORS / f"{name}.aigif").read_bytes()
    code = (VECTORS / f"{name}.error").read_text().strip()
    with pytest.raises(AigifError) as info:
        aigif.decode(data)
    assert info.value.code == code
    # the CLI gives the spec's exit status and a one-line message, never a traceback
    status = main(["info", str(VECTORS / f"{name}.aigif")])
    err = capsys.readouterr().err
    assert status == EXIT[code]
    assert code in err and "Traceback" not in err


def test_vectors_are_frozen():
    """The generator still reproduces every frozen vector byte for byte."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(VECTORS.parent / "make_vectors.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_reference_decoder_from_the_spec_agrees_with_the_package():
    """spec/reference/prompt_model_decoder.py was written from spec/prompt-coder.md alone."""
    import importlib.util
    import random

    from aigif.text import promptcoder

    spec = importlib.util.spec_from_file_location("refdec", VECTORS.parent / "reference" / "prompt_model_decoder.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    rng = random.Random(7)
    words = ["a", "cat", "masterpiece", "(best quality:1.2)", "<lora:x_y:0.7>", "BREAK", "\n", "猫", "🦊", "zzqxv", ",", " "]
    texts = ["", "a red fox", "portrait of an old fisherman, dramatic lighting, trending on artstation"]
    texts += ["".join(rng.choice(words) + rng.choice([" ", ", ", ""]) for _ in range(rng.randrange(1, 40))) for _ in range(40)]
    for t in texts:
        assert ref.decode(promptcoder.encode(t)) == t
    # codec 5 (spec/prompt-coder.md §10): the same texts plus ones its adaptive models learn
    texts += ['{\n  "a": "red fox",\n  "b": "red fox"\n}', "猫猫 一只猫 zzqx zzqx zzqx",
              '{\n    "description": "a quiet harbour at dawn",\n    "aspect_ratio": "16:9"\n}',
              "a lighthouse in a storm, oil painting --ar 16:9 --v 7 --stylize 400 --profile zq8x1k"]
    # past the 256 local pieces and 32 followers of §10: spelled, not remembered
    words = [f" q{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}z" for i in range(300)]
    texts.append(",".join(words) + "".join(", and" + w for w in words[:60]))
    for t in texts:
        assert ref.decode5(promptcoder.adaptive_encode(t)) == t
    # codec 6 (spec/prompt-coder.md §11): the same texts plus boilerplate that orders 5..8 know
    texts += ["masterpiece, best quality, ultra detailed, 8k, highly detailed, sharp focus, (photorealistic:1.4), raw photo",
              "(worst quality, low quality:1.4), lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit"]
    for t in texts:
        assert ref.decode6(promptcoder.high_order_encode(t)) == t
