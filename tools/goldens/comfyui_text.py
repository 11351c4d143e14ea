"""Make tests/goldens/comfyui/text.json by running ComfyUI's own CLIPTextEncode on the tiny-sd CLIP.

    PYTHONPATH=<einops, av> python tools/goldens/comfyui_text.py --comfyui DIR -o OUT.json

ComfyUI (unmodified, "--cpu") runs its real text path: nodes.CLIPSetLastLayer and
nodes.CLIPTextEncode -> comfy.sd.CLIP (tokenize, encode_from_tokens_scheduled, clip_layer) ->
comfy.sd1_clip.SD1Tokenizer / SDTokenizer.tokenize_with_weights (token_weights,
parse_parentheses, escapes, 77-token chunking) and SD1ClipModel -> SDClipModel
(encode_token_weights with the empty-prompt weighting, process_tokens, forward) over
comfy.clip_model.CLIPTextModel with comfy.ops.manual_cast, the text-encoder dtype ComfyUI
chooses (float16 on the CPU; the float32 runs use ComfyUI's --fp32-text-enc choice by
passing model_options={"dtype": torch.float32}).

The only adaptations, because tiny-sd is a small diffusers CLIP and not an SD1.5 checkpoint:
- the SDClipModel is built with the tiny CLIP's config dict (32 wide, 3 layers) and its
  special tokens (start 1340, end = pad 1341, what SDTokenizer reads from tokenizing ''),
  return_projected_pooled=False as SD1CheckpointClipModel;
- the SDTokenizer reads the tiny-sd tokenizer folder, embedding_size 32;
- ComfyUI's CLIPEmbeddings always has 49408 rows: the tiny CLIP's 1342-row token table is
  loaded into its first rows (the others are zeros and never indexed); the transformers
  weight names get ComfyUI's "text_model." prefix.
The prompt list is tests/diffusion/engines/comfyui/test_comfyui_text.py's (imported).  No ComfyUI code here.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "registry/embedded/tiny-sd"


def build_comfy_clip(comfy_sd, sd1_clip, torch, dtype=None):
    """A real comfy.sd.CLIP around the tiny-sd text encoder."""
    from safetensors.torch import load_file

    config = json.loads((TINY / "text_encoder/config.json").read_text())
    probe = sd1_clip.SDTokenizer(tokenizer_path=str(TINY / "tokenizer"), embedding_size=32)
    special = {"start": probe.start_token, "end": probe.end_token, "pad": probe.pad_token}

    class Target:
        params = {}
        clip = functools.partial(sd1_clip.SD1ClipModel, clip_model=functools.partial(
            sd1_clip.SDClipModel, textmodel_json_config=dict(config), special_tokens=special,
            return_projected_pooled=False))
        tokenizer = functools.partial(sd1_clip.SD1Tokenizer, tokenizer=functools.partial(
            sd1_clip.SDTokenizer, tokenizer_path=str(TINY / "tokenizer"), embedding_size=32))

    options = {} if dtype is None else {"dtype": dtype}
    clip = comfy_sd.CLIP(Target, model_options=options)
    weights = load_file(str(TINY / "text_encoder/model.safetensors"))
    table = weights["embeddings.token_embedding.weight"]
    full = torch.zeros(49408, table.shape[1], dtype=table.dtype)
    full[:table.shape[0]] = table
    weights["embeddings.token_embedding.weight"] = full
    missing, unexpected = clip.cond_stage_model.load_sd({"text_model." + k: v for k, v in weights.items()})
    assert not unexpected, unexpected
    assert all("text_projection" in k for k in missing), missing
    return clip


def comfy_modules(comfyui: str):
    sys.argv = [sys.argv[0], "--cpu"]
    sys.path.insert(0, comfyui)
    import comfy.options
    comfy.options.enable_args_parsing()
    import comfy.model_management
    import comfy.sd
    import comfy.sd1_clip
    import nodes
    return comfy.sd, comfy.sd1_clip, nodes, comfy.model_management


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    comfy_sd, sd1_clip, nodes, mm = comfy_modules(args.comfyui)
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))
    import test_comfyui_text as T

    # the profile's thread count (_numerics), as tests/.../test_comfyui_text.py runs: oneMKL's
    # reproducible GEMM gives the same bits only at the same number of threads
    assert not mm.pytorch_attention_enabled()  # CPU: comfy attention_basic
    clips = {"float16": build_comfy_clip(comfy_sd, sd1_clip, torch),
             "float32": build_comfy_clip(comfy_sd, sd1_clip, torch, torch.float32)}
    dtypes = {name: str(c.cond_stage_model.clip_l.transformer.get_input_embeddings().weight.dtype)
              for name, c in clips.items()}
    print("text encoder dtypes:", dtypes)
    assert dtypes == {"float16": "torch.float16", "float32": "torch.float32"}
    cases = []
    for prompt in T.PROMPTS:
        tokens = clips["float16"].tokenize(prompt)["l"]
        runs = [("float16", layer) for layer in T.CLIP_LAYERS] + [("float32", -2)]
        encodings = []
        for dtype_name, layer in runs:
            clip = clips[dtype_name]
            if layer is not None:
                (clip,) = nodes.CLIPSetLastLayer().set_last_layer(clip, layer)
            with torch.no_grad():
                ((cond, extra),) = nodes.CLIPTextEncode().encode(clip, prompt)[0]
            pooled = extra["pooled_output"]
            encodings.append({"weight_dtype": dtype_name, "layer_idx": layer, "cond_shape": list(cond.shape),
                              "cond_sha256": T.digest(cond), "pooled_sha256": T.digest(pooled),
                              "cond_probe": [float(cond.reshape(-1)[i]).hex() for i in (0, 33, 1000, cond.numel() - 1)]})
        cases.append({"prompt": prompt, "tokens": T.token_summary(tokens), "encodings": encodings})
        print(len(tokens), "chunks", repr(prompt[:50]), flush=True)
    out = {"comfyui_commit": T.COMFYUI_COMMIT, "torch": torch.__version__,
           "numerics": _numerics.describe(torch), "text_encoder_dtypes": dtypes,
           "clip_layers": list(T.CLIP_LAYERS), "cases": cases}
    # one line per prompt keeps the token lists readable and the file small
    head = json.dumps({k: v for k, v in out.items() if k != "cases"}, ensure_ascii=False)[:-1]
    lines = [json.dumps(case, ensure_ascii=False, separators=(",", ":")) for case in cases]
    Path(args.out).write_text(head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"{len(cases)} prompts -> {args.out}")


if __name__ == "__main__":
    main()
