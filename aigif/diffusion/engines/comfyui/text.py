"""ComfyUI's CLIPTextEncode / CLIPSetLastLayer for an SD 1.x CLIP text encoder, written
here and checked against ComfyUI's own comfy/sd1_clip.py (tests/goldens/comfyui/text.json).

What ComfyUI does between a prompt and the conditioning tensor, and where it differs
from A1111 (aigif.diffusion.engines.a1111.conditioning):

1. Weights: `\\(` and `\\)` are escaped, then the text is split into runs by *parentheses
   only* (no `[x]`, no BREAK, no prompt editing: square brackets are plain text).  A run
   "(...)" multiplies the weight by 1.1, or with a last ":" inside that parses as a
   Python float sets it to that value ("(a:b:1.2)" is "a:b" at 1.2).  Unbalanced ")"
   close nothing; an unclosed "(" runs to the end of the text as weighted text.
2. Each weighted run is tokenized whole (its start/end tokens dropped) and kept as one
   group: a group that does not fit the current 77-token chunk moves whole to the next
   one, unless it has 8 or more tokens, then it is split at the chunk edge.  No comma
   back-off.  Chunks are [start] + tokens + [end], padded with the end token.
3. Encoding: all chunks go through CLIP as one batch, plus — when any weight differs
   from 1 — one "empty" row [start, end, pad, ...].  Each weighted token vector becomes
   (z - z_empty) * w + z_empty, relative to the empty prompt's vector at the same
   position; no mean restore.  Chunks are concatenated along the token axis.
4. Clip skip (CLIPSetLastLayer -n): the output of layer (layers - n) through the final
   layer norm; an |n| larger than the model's layer count means the last layer.
5. Pooled output: the *unprojected* final-layer vector at the first end token of the
   first chunk (SD1's checkpoint CLIP), from the last layer whatever the clip skip.
6. Arithmetic: ComfyUI keeps text-encoder weights in float16 by default (also on the
   CPU) and computes in float32, casting each weight at use (comfy.ops.manual_cast);
   attention on the CPU is its attention_basic (einsum, additive causal mask of
   -finfo.max, softmax).  `weight_dtype=torch.float32` is ComfyUI's --fp32-text-enc.
   On an NVIDIA GPU ComfyUI uses PyTorch's SDPA for this attention instead: the bits
   may differ there (not covered by the goldens).

`embedding:name` textual inversions are refused (UnsupportedFeature), not dropped as
ComfyUI does for a name it cannot find.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import torch

from ....errors import InvalidSyntax, LimitExceeded, UnsupportedFeature
from .... import limits

MAX_LENGTH = 77
MAX_WORD_LENGTH = 8  # a group this long may be split across chunks
EMBEDDING_IDENTIFIER = "embedding:"
# Bounds: a prompt is text typed by a person; ComfyUI's recursive parser would hit
# Python's recursion limit near 1000 nesting levels, these are far above real prompts.

TokenWeights = list[list[tuple[int, float]]]


# -- weights ---------------------------------------------------------------------------
def _escape(text: str) -> str:
    return text.replace("\\)", "\0\1").replace("\\(", "\0\2")


def _unescape(text: str) -> str:
    return text.replace("\0\1", ")").replace("\0\2", "(")


def split_parentheses(text: str) -> list[str]:
    """Top-level runs: plain text and "(...)" groups (ComfyUI's parse_parentheses)."""
    runs: list[str] = []
    current = ""
    depth = 0
    for char in text:
        if char == "(":
            if depth == 0:
                if current:
                    runs.append(current)
                current = "("
            else:
                current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                runs.append(current + ")")
                current = ""
            else:
                current += char
        else:
            current += char
    if current:
        runs.append(current)
    return runs


def _parse_weight(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def weighted_runs(text: str, weight: float = 1.0, _depth: int = 0) -> list[tuple[str, float]]:
    """(text, weight) runs of an escaped prompt (ComfyUI's token_weights)."""
    if _depth > limits.MAX_PROMPT_NESTING:
        raise LimitExceeded(f"prompt nests parentheses deeper than {limits.MAX_PROMPT_NESTING}")
    out: list[tuple[str, float]] = []
    for run in split_parentheses(text):
        if len(run) >= 2 and run[0] == "(" and run[-1] == ")":
            inner = run[1:-1]
            inner_weight = weight * 1.1
            colon = inner.rfind(":")
            if colon > 0:
                value = _parse_weight(inner[colon + 1:])
                if value is not None:
                    if not math.isfinite(value):
                        raise InvalidSyntax(f"prompt weight {inner[colon + 1:]!r} is not a finite number")
                    inner_weight, inner = value, inner[:colon]
            out += weighted_runs(inner, inner_weight, _depth + 1)
        else:
            out.append((run, weight))
    return out


def prompt_weights(text: str) -> list[tuple[str, float]]:
    """The prompt's weighted runs, escapes resolved."""
    if not isinstance(text, str):
        raise InvalidSyntax(f"a ComfyUI prompt is text, not {type(text).__name__}")
    if len(text) > limits.COMFYUI_MAX_PROMPT_CHARS:
        raise LimitExceeded(f"prompt of {len(text)} characters, over {limits.COMFYUI_MAX_PROMPT_CHARS}")
    return [(_unescape(run), w) for run, w in weighted_runs(_escape(text))]


# -- tokens ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpecialTokens:
    start: int
    end: int
    pad: int


def special_tokens_of(tokenizer) -> SpecialTokens:
    """ComfyUI reads start and end from tokenizing '' and pads with the end token."""
    empty = tokenizer("")["input_ids"]
    return SpecialTokens(int(empty[0]), int(empty[1]), int(empty[1]))


def tokenize_with_weights(text: str, tokenizer, special: SpecialTokens | None = None) -> TokenWeights:
    """ComfyUI's SDTokenizer.tokenize_with_weights: chunks of 77 (token, weight) pairs."""
    special = special or special_tokens_of(tokenizer)
    groups: list[list[tuple[int, float]]] = []
    for segment, weight in prompt_weights(text):
        if EMBEDDING_IDENTIFIER in segment:
            raise UnsupportedFeature("ComfyUI textual inversion (embedding:name) is not supported by this engine")
        if segment == "":
            continue
        ids = tokenizer(segment)["input_ids"][1:-1]
        groups.append([(int(t), weight) for t in ids])

    batch: list[tuple[int, float]] = [(special.start, 1.0)]
    chunks = [batch]
    room = MAX_LENGTH - 1  # one place is always kept for the end token
    for group in groups:
        is_large = len(group) >= MAX_WORD_LENGTH
        while group:
            if len(group) + len(batch) > room:
                remaining = room - len(batch)
                if is_large:
                    batch.extend(group[:remaining])
                    batch.append((special.end, 1.0))
                    group = group[remaining:]
                else:
                    batch.append((special.end, 1.0))
                    batch.extend([(special.pad, 1.0)] * remaining)
                if len(chunks) >= limits.COMFYUI_MAX_CHUNKS:
                    raise LimitExceeded(f"prompt needs more than {limits.COMFYUI_MAX_CHUNKS} chunks of {MAX_LENGTH} tokens")
                batch = [(special.start, 1.0)]
                chunks.append(batch)
            else:
                batch.extend(group)
                group = []
    batch.append((special.end, 1.0))
    batch.extend([(special.pad, 1.0)] * (MAX_LENGTH - len(batch)))
    return chunks


# -- the encoder -----------------------------------------------------------------------
@dataclass(frozen=True)
class ClipVariant:
    """How ComfyUI's SDClipModel is configured for one text encoder of a model family.

    sd1: the final layer (clip skip picks a hidden layer, through the final layer norm),
    pooled unprojected, padded with the end token.  SDXL's CLIP-L and CLIP-G
    (comfy/sdxl_clip.py): the penultimate layer by default, *without* the final layer norm;
    CLIP-G pads with token 0 and its pooled output goes through text_projection."""
    default_layer: int | None = None
    layer_norm_hidden_state: bool = True
    pad_with_end: bool = True
    projected_pooled: bool = False


SD1_CLIP = ClipVariant()
SDXL_CLIP_L = ClipVariant(default_layer=-2, layer_norm_hidden_state=False)
SDXL_CLIP_G = ClipVariant(default_layer=-2, layer_norm_hidden_state=False, pad_with_end=False, projected_pooled=True)


class ComfyClip:
    """A CLIP text model run with ComfyUI's arithmetic, around a transformers
    CLIPTextModel(WithProjection)'s weights (held as `weight_dtype`, computed in float32)."""

    def __init__(self, tokenizer, text_model, weight_dtype: torch.dtype = torch.float16,
                 variant: ClipVariant = SD1_CLIP):
        self.tokenizer = tokenizer
        self.text_model = text_model
        self.weight_dtype = weight_dtype
        self.variant = variant
        special = special_tokens_of(tokenizer)
        self.special = special if variant.pad_with_end else SpecialTokens(special.start, special.end, 0)
        config = text_model.config
        self.num_layers = int(config.num_hidden_layers)
        self.heads = int(config.num_attention_heads)
        inner = getattr(text_model, "text_model", text_model)
        self._inner = inner
        self.weights: dict[str, torch.Tensor] = {}
        self.projection: torch.Tensor | None = None
        self.reload_weights()

    def reload_weights(self) -> None:
        """Take the model's current parameters, rounded to weight_dtype (as ComfyUI's
        load_state_dict into a float16 module)."""
        with torch.no_grad():
            self.weights = {name: p.detach().to(self.weight_dtype, copy=True)
                            for name, p in self._inner.named_parameters()}
            if self.variant.projected_pooled:
                projection = getattr(self.text_model, "text_projection", None)
                if projection is None:
                    raise InvalidSyntax("this CLIP variant needs a text encoder with a text_projection")
                self.projection = projection.weight.detach().to(self.weight_dtype, copy=True)

    def lora_targets(self, prefixes: tuple[str, ...] = ("lora_te_",)) -> dict[str, str]:
        """kohya key stem -> weight name, for the Linear layers ComfyUI's
        model_lora_keys_clip maps (the encoder layers' attention and MLP)."""
        return self.lora_targets_of(self.weights, prefixes)

    @staticmethod
    def lora_targets_of(parameter_names, prefixes: tuple[str, ...] = ("lora_te_",)) -> dict[str, str]:
        """`prefixes`: the kohya prefixes ComfyUI maps to this encoder (SD 1.x: lora_te_;
        SDXL's CLIP-L: lora_te_ and lora_te1_, CLIP-G: lora_te2_; the refiner's CLIP-G: lora_te_)."""
        table = {}
        for name in parameter_names:
            if name.startswith("encoder.layers.") and name.endswith(".weight"):
                stem = name[:-len(".weight")]
                if any(stem.endswith(s) for s in ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")):
                    for prefix in prefixes:
                        table[prefix + "text_model_" + stem.replace(".", "_")] = name
        return table

    def tokenize(self, text: str) -> TokenWeights:
        return tokenize_with_weights(text, self.tokenizer, self.special)

    def _w(self, name: str) -> torch.Tensor:
        return self.weights[name].to(torch.float32)

    def _linear(self, prefix: str, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self._w(prefix + ".weight"), self._w(prefix + ".bias"))

    def _layer_norm(self, prefix: str, x: torch.Tensor) -> torch.Tensor:
        w = self._w(prefix + ".weight")
        return torch.nn.functional.layer_norm(x, w.shape, w, self._w(prefix + ".bias"), 1e-5)

    def _attention(self, prefix: str, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._linear(f"{prefix}.{p}_proj", x) for p in ("q", "k", "v"))
        b, _, width = q.shape
        heads = self.heads
        dim_head = width // heads
        q, k, v = (t.unsqueeze(3).reshape(b, -1, heads, dim_head).permute(0, 2, 1, 3)
                   .reshape(b * heads, -1, dim_head).contiguous() for t in (q, k, v))
        sim = torch.einsum("b i d, b j d -> b i j", q, k) * (dim_head ** -0.5)
        sim.add_(mask.reshape(1, -1, mask.shape[-2], mask.shape[-1]).expand(b, heads, -1, -1)
                 .reshape(-1, mask.shape[-2], mask.shape[-1]))
        sim = sim.softmax(dim=-1)
        out = torch.einsum("b i j, b j d -> b i d", sim, v)
        out = out.unsqueeze(0).reshape(b, heads, -1, dim_head).permute(0, 2, 1, 3).reshape(b, -1, heads * dim_head)
        return self._linear(f"{prefix}.out_proj", out)

    def forward(self, tokens: list[list[int]], layer_idx: int | None):
        """(z, pooled) for rows of token ids: SDClipModel.forward with ComfyUI's layer rule."""
        ids = torch.tensor(tokens, dtype=torch.long)
        end = self.special.end
        num_tokens = [(row.index(end) + 1) if end in row else len(row) for row in tokens]
        x = torch.nn.functional.embedding(ids, self.weights["embeddings.token_embedding.weight"]).to(torch.float32)
        x = x + self._w("embeddings.position_embedding.weight")
        n = x.shape[1]
        mask = torch.full((n, n), -torch.finfo(x.dtype).max, dtype=x.dtype).triu_(1)
        if layer_idx is None:
            layer_idx = self.variant.default_layer
        hidden = layer_idx is not None and abs(layer_idx) <= self.num_layers
        stop = None
        if hidden:
            stop = self.num_layers + layer_idx if layer_idx < 0 else layer_idx
        intermediate = None
        for i in range(self.num_layers):
            p = f"encoder.layers.{i}"
            x = x + self._attention(f"{p}.self_attn", self._layer_norm(f"{p}.layer_norm1", x), mask)
            h = self._layer_norm(f"{p}.layer_norm2", x)
            h = self._linear(f"{p}.mlp.fc1", h)
            h = h * torch.sigmoid(1.702 * h)
            x = x + self._linear(f"{p}.mlp.fc2", h)
            if i == stop:
                intermediate = x.clone()
        x = self._layer_norm("final_layer_norm", x)
        if hidden:
            z = self._layer_norm("final_layer_norm", intermediate) if self.variant.layer_norm_hidden_state else intermediate
        else:
            z = x
        pooled = x[list(range(x.shape[0])), [t - 1 for t in num_tokens]]
        if self.projection is not None:
            pooled = torch.nn.functional.linear(pooled, self.projection.to(torch.float32))
        return z.float(), pooled.float()

    def encode(self, chunks: TokenWeights, layer_idx: int | None = None):
        """ClipTokenWeightEncoder.encode_token_weights: (cond (1, 77k, width), pooled (1, width))."""
        if not chunks:
            raise InvalidSyntax("no token chunks to encode")
        rows = [[t for t, _ in chunk] for chunk in chunks]
        has_weights = any(w != 1.0 for chunk in chunks for _, w in chunk)
        if has_weights:
            length = max(len(r) for r in rows)
            rows.append([self.special.start, self.special.end] + [self.special.pad] * (length - 2))
        with torch.no_grad():
            out, pooled = self.forward(rows, layer_idx)
            outputs = []
            for k, chunk in enumerate(chunks):
                z = out[k:k + 1]
                if has_weights:
                    z_empty = out[-1]
                    for j, (_, weight) in enumerate(chunk):
                        if weight != 1.0:
                            z[0][j] = (z[0][j] - z_empty[j]) * weight + z_empty[j]
                outputs.append(z)
            return torch.cat(outputs, dim=-2), pooled[0:1]

    def encode_text(self, text: str, layer_idx: int | None = None):
        return self.encode(self.tokenize(text), layer_idx)


def check_last_layer(value) -> int:
    """CLIPSetLastLayer's stop_at_clip_layer: an integer in -24 .. -1."""
    if isinstance(value, bool) or not isinstance(value, int) or not -24 <= value <= -1:
        raise InvalidSyntax(f"CLIPSetLastLayer stop_at_clip_layer must be an integer in -24..-1, not {value!r}")
    return value
