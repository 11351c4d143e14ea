"""Hostile images for the Python import API, aigif.importers.import_image (aigif/importers/):
only AigifErrors with the exit status the CLI reports, and pathological metadata text in
every key a tool parser reads.
"""

from __future__ import annotations

import json

import pytest

import aigif
from aigif.errors import AigifError, FileAccessError
from samples import hostile_images, png_chunk, text_only_png


@pytest.mark.parametrize("name", [n for n, (_, s) in hostile_images().items() if s is not None])
def test_import_image_api_raises_only_aigif_errors(name):
    from aigif.importers import import_image

    data, status = hostile_images()[name]
    with pytest.raises(AigifError) as e:
        import_image(data)
    assert e.value.exit_status == status


def test_import_image_api_on_missing_file_and_directory(tmp_path):
    from aigif.importers import import_image

    for path in (tmp_path / "absent.png", tmp_path):
        with pytest.raises(FileAccessError):
            import_image(path)


def test_import_image_api_pathological_metadata_text():
    """Deeply nested JSON, huge numbers and broken infotext in the fields each tool parser
    reads: an import or a clean aigif error, and what is imported encodes and decodes."""
    from aigif.importers import import_image
    from aigif.importers.batch import build_syntax

    n = 3000
    values = [
        "[" * n + "]" * n,
        '{"a":' * n + "1" + "}" * n,
        '{"prompt": "x", "num_inference_steps": NaN, "guidance_scale": Infinity, "seed": 1e400}',
        '{"prompt": "x", "num_inference_steps": 1' + "0" * 5000 + ', "guidance_scale": 7}',
        "x\nSteps: 9" + "9" * 5000 + ", CFG scale: 1e999999999, Seed: 1" + "0" * 5000 + ", Size: 99999999999x99999999999",
        "x\nSteps: 20, CFG scale: 0E-999999999, Seed: 1, Size: 512x512",
        "x\nSteps: -5, CFG scale: -7, Seed: -1, Size: -512x-512",
        '"a cat" -s 20 -S 1 -W 99999999 -H 99999999 -C 1e999999999',
        json.dumps({"1": {"class_type": "CLIPTextEncode", "inputs": {"text": ["2", 0]}},
                    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": ["1", 0]}},
                    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7, "positive": ["1", 0],
                                                             "negative": ["2", 0], "model": ["4", 0]}},
                    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}}}),
    ]
    keys = ["parameters", "Comment", "UserComment", "prompt", "workflow", "invokeai_metadata", "sd-metadata",
            "generation_data", "parameters-json", "Dream", "smproj"]
    for value in values:
        for key in keys:
            chunks = [png_chunk(b"iTXt", key.encode() + b"\0\0\0\0\0" + value.encode())]
            if key == "Comment":
                chunks.append(png_chunk(b"tEXt", b"Software\0NovelAI"))
            try:
                r = import_image(text_only_png(chunks=chunks))
            except AigifError:
                continue
            try:
                aigif.decode(aigif.encode(build_syntax(r)))
            except AigifError:
                pass
