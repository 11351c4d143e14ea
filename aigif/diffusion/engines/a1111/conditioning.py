"""A1111 v1.10.x text conditioning, written here and checked against A1111's own code
(tests/goldens/a1111/conditioning.json, tools/goldens/a1111_conditioning_goldens.py).

What A1111 does between a prompt and the UNet's cross-attention input:

1. Emphasis parse (`parse_prompt_attention`, prompt_parser.py here) into [text, weight]
   runs; BREAK is a run ["BREAK", -1].  With emphasis "None" the prompt is one run of
   weight 1 (brackets and BREAK are plain text).
2. Each run is tokenized alone (no start/end tokens, no truncation).
3. Chunking (`tokenize_line`): runs of 75 tokens, each wrapped as
   [start] + 75 tokens + [end], short chunks filled with the end token (multiplier 1).
   A BREAK closes the current chunk.  When a chunk is full and the next token is not a
   comma, and a comma lies at most `comma_padding_backtrack` tokens back, the tokens
   after that comma move to the next chunk — but the textual-inversion placements of
   the moved tokens stay with the old chunk, as in A1111 (their ids are 0 by then).  An
   embedding that does not fit the rest of the chunk starts a new one.
4. Encoding, one batch per chunk index (shorter prompts of a batch get A1111's empty
   chunk): for a pad token other than the end token (SD2, OpenCLIP), every position after
   the first end token becomes the pad token; the embedding vectors replace the token
   embeddings at their places; the CLIP output is the last layer (clip skip 1) or
   hidden_states[-n] through the final layer norm (SD1 clip skip n).
5. Emphasis on the whole batch of one chunk: "Original" multiplies every token vector by
   its weight and then rescales so the batch's mean is what it was (one mean over all
   prompts of the batch, not one per prompt); "No norm" only multiplies; "Ignore" and
   "None" leave z as it is.
6. The chunks are concatenated along the token axis (77 × chunks).

Around that: prompt editing gives each prompt a list of (last step, text); all texts of
one prompt go through the encoder as one batch (so the emphasis mean spans them), and at
sampler step s (0-based model calls, `reconstruct_cond_batch`) the first entry with
s <= last step applies.  AND sub-prompts of different lengths are stacked by repeating
their last vector; cond and uncond of different lengths are left apart (A1111's default:
two UNet batches), or padded with the empty prompt's conditioning (`pad_cond_uncond`),
or the uncond is stretched with its last vector / cut (`pad_cond_uncond_v0`).

Textual inversion: embeddings are read from .safetensors files only (A1111 also reads
pickled .pt/.bin files; this module refuses those, never unpickling).  The name is the
file's stem; a prompt uses an embedding where the tokens of its name appear inside one
emphasis run (longest name first).  The infotext's "TI hashes" is
"name: sha256(file)[:12], ..." with ':' and ',' removed from names, new hashes in
front of the previous value (A1111 appends the old string on every encoder call).

Covered with goldens: SD1-style CLIP (end token = pad token), the SD2-style pad token,
the SDXL CLIP-L encoder (hidden layer -2 without final norm, with the "Clip skip SDXL"
option).  The SDXL OpenCLIP-G encoder and the two-encoder conditioner are here as
structure only (no model to check them against): pad token 0, penultimate layer without
final norm, pooled output of the first chunk, zero embeddings for an all-empty negative
batch.  The SDXL size/crop/aesthetic "vector" conditioning is not here.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from ....errors import FileAccessError, InvalidSyntax, LimitExceeded, ModelError
from . import prompt_parser
from .... import limits

CHUNK_LENGTH = 75  # prompt tokens per chunk; with start and end a chunk is 77
EMPHASIS_MODES = ("Original", "No norm", "Ignore", "None")

# Bounds of textual-inversion input.  Real embeddings are 1-75 vectors and a few KB
# (SDXL ones ~100 KB); a name longer than a chunk could never be matched whole.
MAX_EMBEDDING_VECTORS = CHUNK_LENGTH
MAX_EMBEDDING_NAME_TOKENS = CHUNK_LENGTH


class InvalidEmbedding(ModelError):
    """A textual-inversion embedding file this engine cannot use."""

    code = "E_MODEL_EMBEDDING"


@dataclass(frozen=True)
class ConditioningOptions:
    """The webui settings that change the conditioning (A1111's names in comments)."""

    emphasis: str = "Original"  # "emphasis"; infotext "Emphasis"
    comma_padding_backtrack: int = 20  # "comma_padding_backtrack" (UI 0-74)
    clip_skip: int = 1  # "CLIP_stop_at_last_layers"; infotext "Clip skip"
    sdxl_clip_l_skip: bool = False  # "sdxl_clip_l_skip": clip skip for SDXL's CLIP-L too
    add_ti_hashes: bool = True  # "textual_inversion_add_hashes_to_infotext"

    def __post_init__(self):
        if self.emphasis not in EMPHASIS_MODES:
            raise InvalidSyntax(f"emphasis mode {self.emphasis!r} is not one of {', '.join(EMPHASIS_MODES)}")
        if isinstance(self.comma_padding_backtrack, bool) or not isinstance(self.comma_padding_backtrack, int) \
                or not 0 <= self.comma_padding_backtrack <= CHUNK_LENGTH - 1:
            raise InvalidSyntax(f"comma_padding_backtrack must be an integer 0-{CHUNK_LENGTH - 1}")
        if isinstance(self.clip_skip, bool) or not isinstance(self.clip_skip, int) or self.clip_skip < 1:
            raise InvalidSyntax("clip skip must be an integer of at least 1")


# -- textual inversion --------------------------------------------------------------
@dataclass(eq=False)
class Embedding:
    """One textual-inversion embedding: `vectors` is (n, width) float32, or for SDXL a
    dict {"clip_l": (n, 768), "clip_g": (n, 1280)}."""

    name: str
    vectors: torch.Tensor | dict[str, torch.Tensor]
    sha256: str | None = None

    @property
    def count(self) -> int:
        first = self.vectors["clip_g"] if isinstance(self.vectors, dict) else self.vectors
        return int(first.shape[0])

    @property
    def width(self) -> int:
        if isinstance(self.vectors, dict):
            return int(self.vectors["clip_g"].shape[-1] + self.vectors["clip_l"].shape[-1])
        return int(self.vectors.shape[-1])

    @property
    def shorthash(self) -> str | None:
        return self.sha256[:12] if self.sha256 else None

    def for_encoder(self, key: str) -> torch.Tensor:
        return self.vectors[key] if isinstance(self.vectors, dict) else self.vectors


def embedding_from_tensors(name: str, tensors: dict[str, torch.Tensor], sha256: str | None = None) -> Embedding:
    """Interpret a .safetensors dict as A1111's create_embedding_from_data does: "clip_l"
    and "clip_g" together are an SDXL embedding; otherwise exactly one tensor, a 1-D one
    being a single vector."""
    if "string_to_param" in tensors:
        raise InvalidEmbedding(f"embedding {name!r}: a 'string_to_param' tensor is the layout of pickled .pt files")
    if "clip_g" in tensors and "clip_l" in tensors:
        vectors = {k: v.detach().to(torch.float32) for k, v in tensors.items()}
        count_g, count_l = vectors["clip_g"], vectors["clip_l"]
        if count_g.dim() != 2 or count_l.dim() != 2 or count_g.shape[0] != count_l.shape[0]:
            raise InvalidEmbedding(f"embedding {name!r}: clip_l and clip_g must be matrices with the same rows")
    elif len(tensors) == 1:
        vectors = next(iter(tensors.values())).detach().to(torch.float32)
        if vectors.dim() == 1:
            vectors = vectors.unsqueeze(0)
        if vectors.dim() != 2:
            raise InvalidEmbedding(f"embedding {name!r}: expected a matrix of vectors, got shape {tuple(vectors.shape)}")
    else:
        raise InvalidEmbedding(f"embedding {name!r} has {len(tensors)} tensors; A1111 takes one (or clip_l + clip_g)")
    embedding = Embedding(name, vectors, sha256)
    if not 1 <= embedding.count <= MAX_EMBEDDING_VECTORS:
        raise InvalidEmbedding(f"embedding {name!r} has {embedding.count} vectors (1-{MAX_EMBEDDING_VECTORS} usable)")
    return embedding


def load_embedding_file(path: str | os.PathLike) -> Embedding:
    """Read one .safetensors embedding; its name is the file's stem, its hash the sha256
    of the file's bytes (A1111's hashes.sha256)."""
    import safetensors.torch  # lazy: the generate extra, only when embeddings are used

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise InvalidEmbedding(f"{path.name}: only .safetensors embeddings are read (no pickled .pt/.bin)")
    try:
        size = path.stat().st_size
        if size > limits.MAX_EMBEDDING_FILE_BYTES:
            raise LimitExceeded(f"{path.name}: {size} bytes, over the {limits.MAX_EMBEDDING_FILE_BYTES}-byte embedding limit")
        data = path.read_bytes()
    except OSError as exc:
        raise FileAccessError(f"cannot read embedding {path.name}: {exc.strerror or exc}") from None
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # the library raises its own SafetensorError and others
        raise InvalidEmbedding(f"{path.name}: not a readable safetensors file ({exc})") from None
    return embedding_from_tensors(path.stem, tensors, hashlib.sha256(data).hexdigest())


class EmbeddingDatabase:
    """Embeddings by name, looked up by token ids as A1111's EmbeddingDatabase does: for
    each first token, the names starting with it, longest first."""

    def __init__(self, tokenize: Callable[[list[str]], list[list[int]]], expected_width: int | None = None):
        self._tokenize = tokenize
        self.expected_width = expected_width
        self.by_name: dict[str, Embedding] = {}
        self.skipped: dict[str, Embedding] = {}  # wrong width for this model: A1111 skips them
        self._by_first_id: dict[int, list[tuple[list[int], Embedding]]] = {}

    def add(self, embedding: Embedding) -> bool:
        """Register an embedding; False (and kept in .skipped) when its width is not the
        model's.  Two embeddings whose names give the same tokens are refused: A1111 would
        pick one by the order it walked the folder in."""
        if embedding.name in self.by_name or embedding.name in self.skipped:
            raise InvalidEmbedding(f"two embeddings are named {embedding.name!r}")
        if self.expected_width is not None and embedding.width != self.expected_width:
            self.skipped[embedding.name] = embedding
            return False
        ids = list(self._tokenize([embedding.name])[0])
        if not ids:
            raise InvalidEmbedding(f"embedding name {embedding.name!r} gives no tokens")
        if len(ids) > MAX_EMBEDDING_NAME_TOKENS:
            raise InvalidEmbedding(f"embedding name {embedding.name[:40]!r}... is longer than a chunk")
        candidates = self._by_first_id.setdefault(ids[0], [])
        for other_ids, other in candidates:
            if other_ids == ids:
                raise InvalidEmbedding(f"embedding names {other.name!r} and {embedding.name!r} give the same tokens")
        candidates.append((ids, embedding))
        candidates.sort(key=lambda entry: len(entry[0]), reverse=True)  # stable: ties keep order
        self.by_name[embedding.name] = embedding
        return True

    def load_dir(self, directory: str | os.PathLike) -> list[str]:
        """Add every .safetensors file under `directory` (recursively, sorted, empty files
        ignored as A1111 does).  Returns the other files found, which are not read."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FileAccessError(f"embedding folder {directory} does not exist")
        found, ignored = [], []
        for root, _dirs, names in os.walk(directory):
            for name in names:
                found.append(Path(root) / name)
                if len(found) > limits.MAX_EMBEDDING_FOLDER_FILES:
                    raise LimitExceeded(f"more than {limits.MAX_EMBEDDING_FOLDER_FILES} files under {directory}")
        for path in sorted(found):
            try:
                if path.stat().st_size == 0:
                    continue
            except OSError:
                continue
            if path.suffix.lower() == ".safetensors":
                self.add(load_embedding_file(path))
            else:
                ignored.append(str(path.relative_to(directory)))
        return ignored

    def find_at(self, tokens: Sequence[int], position: int) -> tuple[Embedding | None, int]:
        for ids, embedding in self._by_first_id.get(tokens[position], ()):
            if list(tokens[position:position + len(ids)]) == ids:
                return embedding, len(ids)
        return None, 0


def ti_hashes_infotext(used: Iterable[Embedding], previous: str | None = None) -> str | None:
    """The "TI hashes" value after one encoder call that used `used` (in order of first
    use), given the value before it."""
    parts = [f"{e.name.replace(':', '').replace(',', '')}: {e.shorthash}" for e in used if e.shorthash]
    if not parts:
        return previous
    if previous:
        parts.append(previous)
    return ", ".join(parts)


# -- chunking -----------------------------------------------------------------------
@dataclass
class PromptChunk:
    """77 token ids, their multipliers, and (offset, embedding) placements; an offset
    counts from the first token after the start token."""

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, Embedding]] = field(default_factory=list)


@dataclass(frozen=True)
class Vocabulary:
    """What chunking needs of a tokenizer."""

    tokenize: Callable[[list[str]], list[list[int]]]
    id_start: int
    id_end: int
    id_pad: int
    comma: int | None


def empty_chunk(vocab: Vocabulary) -> PromptChunk:
    return PromptChunk([vocab.id_start] + [vocab.id_end] * (CHUNK_LENGTH + 1), [1.0] * (CHUNK_LENGTH + 2))


def tokenize_line(line: str, vocab: Vocabulary, options: ConditioningOptions,
                  embeddings: EmbeddingDatabase | None = None) -> tuple[list[PromptChunk], int]:
    """A prompt's chunks and its token count as A1111 shows it (full chunks count 75)."""
    runs = prompt_parser.parse_prompt_attention(line) if options.emphasis != "None" else [[line, 1.0]]
    tokenized = vocab.tokenize([text for text, _ in runs])
    backtrack = options.comma_padding_backtrack

    chunks: list[PromptChunk] = []
    chunk = PromptChunk()
    token_count = 0
    last_comma = -1

    def close_chunk(is_last: bool = False):
        nonlocal chunk, token_count, last_comma
        token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        missing = CHUNK_LENGTH - len(chunk.tokens)
        if missing > 0:
            chunk.tokens += [vocab.id_end] * missing
            chunk.multipliers += [1.0] * missing
        chunk.tokens = [vocab.id_start] + chunk.tokens + [vocab.id_end]
        chunk.multipliers = [1.0] + chunk.multipliers + [1.0]
        last_comma = -1
        chunks.append(chunk)
        chunk = PromptChunk()

    for tokens, (text, weight) in zip(tokenized, runs):
        if text == "BREAK" and weight == -1:
            close_chunk()
            continue
        position = 0
        while position < len(tokens):
            token = tokens[position]
            if token == vocab.comma:
                last_comma = len(chunk.tokens)
            elif (backtrack != 0 and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                  and len(chunk.tokens) - last_comma <= backtrack):
                cut = last_comma + 1
                moved_tokens, moved_multipliers = chunk.tokens[cut:], chunk.multipliers[cut:]
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                close_chunk()  # the placements (fixes) stay behind, as in A1111
                chunk.tokens, chunk.multipliers = moved_tokens, moved_multipliers
            if len(chunk.tokens) == CHUNK_LENGTH:
                close_chunk()

            embedding, name_length = embeddings.find_at(tokens, position) if embeddings else (None, 0)
            if embedding is None:
                chunk.tokens.append(token)
                chunk.multipliers.append(weight)
                position += 1
                continue
            if len(chunk.tokens) + embedding.count > CHUNK_LENGTH:
                close_chunk()
            chunk.fixes.append((len(chunk.tokens), embedding))
            chunk.tokens += [0] * embedding.count
            chunk.multipliers += [weight] * embedding.count
            position += name_length

    if chunk.tokens or not chunks:
        close_chunk(is_last=True)
    return chunks, token_count


def process_texts(texts: Sequence[str], vocab: Vocabulary, options: ConditioningOptions,
                  embeddings: EmbeddingDatabase | None = None) -> tuple[list[list[PromptChunk]], int]:
    """Chunks of each text (a repeated text shares its chunks) and the largest count."""
    cache: dict[str, list[PromptChunk]] = {}
    batch, token_count = [], 0
    for line in texts:
        if line not in cache:
            cache[line], count = tokenize_line(line, vocab, options, embeddings)
            token_count = max(token_count, count)
        batch.append(cache[line])
    return batch, token_count


def apply_emphasis(z: torch.Tensor, multipliers: torch.Tensor, mode: str) -> torch.Tensor:
    """sd_emphasis: z is (batch, 77, width), multipliers (batch, 77)."""
    if mode in ("None", "Ignore"):
        return z
    weighted = z * multipliers.reshape(multipliers.shape + (1,)).expand(z.shape)
    if mode == "No norm":
        return weighted
    original_mean = z.mean()
    return weighted * (original_mean / weighted.mean())


# -- encoders -----------------------------------------------------------------------
def _apply_fixes(inputs_embeds: torch.Tensor, batch_fixes, key: str) -> torch.Tensor:
    """Put embedding vectors at their places (after the start token), cut at the chunk's
    end as A1111's EmbeddingsWithFixes does."""
    if not any(batch_fixes):
        return inputs_embeds
    rows = []
    for fixes, row in zip(batch_fixes, inputs_embeds):
        for offset, embedding in fixes:
            vectors = embedding.for_encoder(key).to(device=row.device, dtype=row.dtype)
            length = min(row.shape[0] - offset - 1, vectors.shape[0])
            row = torch.cat([row[0:offset + 1], vectors[0:length], row[offset + 1 + length:]])
        rows.append(row)
    return torch.stack(rows)


class ClipTextEncoder:
    """One CLIP text encoder as A1111 wraps it, around a transformers CLIPTokenizer and
    CLIPTextModel (or CLIPTextModelWithProjection for SDXL's OpenCLIP-G).

    kind:
    - "sd1": end token pads; clip skip n>1 takes hidden_states[-n] through the final
      layer norm.  `pad_token` set (SD2-style) pads after the first end token.
    - "sdxl_l": SDXL's CLIP-L: hidden_states[-2] without the final norm, or with the
      "Clip skip SDXL" option hidden_states[-clip skip] (no norm either).
    - "sdxl_g": SDXL's OpenCLIP-G (structure only, no golden): pad token 0,
      hidden_states[-2] without final norm, pooled = the model's projected text embeds.
    """

    KINDS = ("sd1", "sdxl_l", "sdxl_g")

    def __init__(self, tokenizer, text_model, kind: str = "sd1", pad_token: int | None = None,
                 embedding_key: str | None = None):
        if kind not in self.KINDS:
            raise InvalidSyntax(f"unknown CLIP encoder kind {kind!r}")
        self.kind = kind
        self.tokenizer = tokenizer
        self.text_model = text_model
        self.embedding_key = embedding_key or ("clip_g" if kind == "sdxl_g" else "clip_l")
        end = tokenizer.eos_token_id
        if pad_token is None:
            pad_token = 0 if kind == "sdxl_g" else end
        self.vocab = Vocabulary(self._tokenize, tokenizer.bos_token_id, end, pad_token,
                                tokenizer.get_vocab().get(",</w>"))

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"]

    @property
    def width(self) -> int:
        return int(self.text_model.get_input_embeddings().weight.shape[1])

    def _layers(self) -> int:
        return int(self.text_model.config.num_hidden_layers)

    def encode_chunk(self, batch_chunks: Sequence[PromptChunk], options: ConditioningOptions):
        """(z, pooled or None) for one chunk index of a batch, emphasis applied."""
        skip = options.clip_skip
        if skip > self._layers() and (self.kind == "sd1" or (self.kind == "sdxl_l" and options.sdxl_clip_l_skip)):
            raise InvalidSyntax(f"clip skip {skip} is more than this text encoder's {self._layers()} layers")
        device = self.text_model.get_input_embeddings().weight.device
        remade = [chunk.tokens for chunk in batch_chunks]
        tokens = torch.asarray(remade).to(device)
        if self.vocab.id_end != self.vocab.id_pad:
            for row, ids in enumerate(remade):
                tokens[row, ids.index(self.vocab.id_end) + 1:tokens.shape[1]] = self.vocab.id_pad

        batch_fixes = [chunk.fixes for chunk in batch_chunks]
        token_embedding = self.text_model.get_input_embeddings()
        hook = token_embedding.register_forward_hook(
            lambda _module, _inputs, output: _apply_fixes(output, batch_fixes, self.embedding_key))
        try:
            outputs = self.text_model(input_ids=tokens, output_hidden_states=True)
        finally:
            hook.remove()

        pooled = None
        if self.kind == "sd1":
            if skip > 1:
                layer_norm = getattr(self.text_model, "text_model", self.text_model).final_layer_norm
                z = layer_norm(outputs.hidden_states[-skip])
            else:
                z = outputs.last_hidden_state
        elif self.kind == "sdxl_l":
            z = outputs.hidden_states[-skip] if options.sdxl_clip_l_skip else outputs.hidden_states[-2]
        else:
            z = outputs.hidden_states[-2]
            pooled = outputs.text_embeds

        multipliers = torch.asarray([chunk.multipliers for chunk in batch_chunks]).to(device)
        return apply_emphasis(z, multipliers, options.emphasis), pooled

    def encode(self, texts: Sequence[str], options: ConditioningOptions,
               embeddings: EmbeddingDatabase | None = None) -> "Encoded":
        batch, token_count = process_texts(texts, self.vocab, options, embeddings)
        count = max(len(chunks) for chunks in batch)
        used: dict[str, Embedding] = {}
        zs, pooled = [], None
        for index in range(count):
            batch_chunk = [chunks[index] if index < len(chunks) else empty_chunk(self.vocab) for chunks in batch]
            for chunk in batch_chunk:
                for _offset, embedding in chunk.fixes:
                    used.setdefault(embedding.name, embedding)
            z, chunk_pooled = self.encode_chunk(batch_chunk, options)
            if index == 0:
                pooled = chunk_pooled  # SDXL: the pooled output of the first chunk only
            zs.append(z)
        return Encoded(torch.hstack(zs), pooled, batch, token_count, list(used.values()))


@dataclass
class Encoded:
    cond: torch.Tensor  # (batch, 77 * chunks, width)
    pooled: torch.Tensor | None
    chunks: list[list[PromptChunk]]
    token_count: int
    used_embeddings: list[Embedding]


class TextConditioner:
    """A model's text conditioning with the infotext values A1111 adds while encoding
    ("TI hashes", "Emphasis"), accumulated over calls as on A1111's model hijack."""

    def __init__(self, encoder: ClipTextEncoder, options: ConditioningOptions | None = None,
                 embeddings: EmbeddingDatabase | None = None):
        self.encoder = encoder
        self.options = options or ConditioningOptions()
        self.embeddings = embeddings
        self.infotext: dict[str, str] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encode(texts).cond

    def encode(self, texts: Sequence[str]) -> Encoded:
        with torch.no_grad():
            encoded = self.encoder.encode(texts, self.options, self.embeddings)
        self._note(texts, encoded)
        return encoded

    def _note(self, texts: Sequence[str], encoded: Encoded):
        if self.options.add_ti_hashes and encoded.used_embeddings:
            value = ti_hashes_infotext(encoded.used_embeddings, self.infotext.get("TI hashes"))
            if value:
                self.infotext["TI hashes"] = value
        if self.options.emphasis != "Original" and any("(" in t or "[" in t for t in texts):
            self.infotext["Emphasis"] = self.options.emphasis


class SDXLTextConditioner(TextConditioner):
    """SDXL's two encoders (structure only, see the module docstring): crossattn is
    CLIP-L's and OpenCLIP-G's outputs side by side, pooled is G's; an all-empty negative
    batch gets zeros, as sgm's force_zero_embeddings."""

    def __init__(self, clip_l: ClipTextEncoder, clip_g: ClipTextEncoder,
                 options: ConditioningOptions | None = None, embeddings: EmbeddingDatabase | None = None):
        super().__init__(clip_l, options, embeddings)
        self.clip_g = clip_g

    def encode_pair(self, texts: Sequence[str], is_negative: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            parts = [self.encoder.encode(texts, self.options, self.embeddings),
                     self.clip_g.encode(texts, self.options, self.embeddings)]
        for part in parts:
            self._note(texts, part)
        crossattn = torch.cat([parts[0].cond, parts[1].cond], dim=-1)
        pooled = parts[1].pooled
        if is_negative and all(text == "" for text in texts):
            crossattn, pooled = torch.zeros_like(crossattn), torch.zeros_like(pooled)
        return crossattn, pooled


# -- conditionings over the steps ---------------------------------------------------
@dataclass(frozen=True)
class ScheduledCond:
    end_at_step: int
    cond: torch.Tensor


def get_learned_conditioning(encode: Callable[[list[str]], torch.Tensor], prompts: Sequence[str], steps: int,
                             hires_steps: int | None = None, use_old_scheduling: bool = False) -> list[list[ScheduledCond]]:
    """Per prompt, [(last step, cond), ...]; the texts of one prompt are one encoder batch."""
    schedules = prompt_parser.get_learned_conditioning_prompt_schedules(prompts, steps, hires_steps, use_old_scheduling)
    cache: dict[str, list[ScheduledCond]] = {}
    result = []
    for prompt, schedule in zip(prompts, schedules):
        if prompt not in cache:
            conds = encode([text for _, text in schedule])
            cache[prompt] = [ScheduledCond(end, conds[i]) for i, (end, _) in enumerate(schedule)]
        result.append(cache[prompt])
    return result


@dataclass(frozen=True)
class ComposableCond:
    schedules: list[ScheduledCond]
    weight: float


def get_multicond_learned_conditioning(encode: Callable[[list[str]], torch.Tensor], prompts: Sequence[str], steps: int,
                                       hires_steps: int | None = None,
                                       use_old_scheduling: bool = False) -> list[list[ComposableCond]]:
    """Per prompt, its AND sub-prompts with their weights and schedules."""
    indexes, flat, _ = prompt_parser.get_multicond_prompt_list(prompts)
    learned = get_learned_conditioning(encode, flat, steps, hires_steps, use_old_scheduling)
    return [[ComposableCond(learned[i], weight) for i, weight in row] for row in indexes]


def schedule_index(schedule: Sequence[ScheduledCond], step: int) -> int:
    """Which entry applies at (0-based) model call `step`: the first with step <= its last
    step, else the first one (A1111's fallback)."""
    for index, entry in enumerate(schedule):
        if step <= entry.end_at_step:
            return index
    return 0


def reconstruct_cond_batch(schedules: Sequence[Sequence[ScheduledCond]], step: int) -> torch.Tensor:
    first = schedules[0][0].cond
    result = torch.zeros((len(schedules),) + first.shape, device=first.device, dtype=first.dtype)
    for i, schedule in enumerate(schedules):
        result[i] = schedule[schedule_index(schedule, step)].cond
    return result


def stack_conds(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack conds of different token lengths by repeating each one's last vector."""
    length = max(t.shape[0] for t in tensors)
    padded = [t if t.shape[0] == length else torch.vstack([t, t[-1:].repeat([length - t.shape[0], 1])]) for t in tensors]
    return torch.stack(padded)


def reconstruct_multicond_batch(batch: Sequence[Sequence[ComposableCond]], step: int):
    """(per image [(row in the stack, weight), ...], stacked conds) at model call `step`."""
    first = batch[0][0].schedules[0].cond
    tensors, conds_list = [], []
    for composables in batch:
        row = []
        for composable in composables:
            row.append((len(tensors), composable.weight))
            tensors.append(composable.schedules[schedule_index(composable.schedules, step)].cond)
        conds_list.append(row)
    return conds_list, stack_conds(tensors).to(device=first.device, dtype=first.dtype)


def pad_cond_uncond(cond: torch.Tensor, uncond: torch.Tensor, empty: torch.Tensor):
    """"Pad prompt/negative prompt": the shorter side gets whole copies of the empty
    prompt's conditioning `empty` (1, 77, width).  Returns (cond, uncond, padded)."""
    repeats = (cond.shape[1] - uncond.shape[1]) // empty.shape[1]
    if repeats < 0:
        return torch.cat([cond, empty.repeat((cond.shape[0], -repeats, 1))], axis=1), uncond, True
    if repeats > 0:
        return cond, torch.cat([uncond, empty.repeat((uncond.shape[0], repeats, 1))], axis=1), True
    return cond, uncond, False


def pad_cond_uncond_v0(cond: torch.Tensor, uncond: torch.Tensor):
    """"Pad prompt/negative prompt (v0)" (DDIM before 1.6.0): the uncond is stretched with
    its last vector or cut to the cond's length.  Returns (cond, uncond, padded)."""
    if uncond.shape[1] < cond.shape[1]:
        last = uncond[:, -1:]
        return cond, torch.hstack([uncond, last.repeat([1, cond.shape[1] - uncond.shape[1], 1])]), True
    if uncond.shape[1] > cond.shape[1]:
        return cond, uncond[:, :cond.shape[1]], True
    return cond, uncond, False


def match_cond_uncond(cond: torch.Tensor, uncond: torch.Tensor, empty: torch.Tensor | None,
                      pad: bool = False, pad_v0: bool = False):
    """CFGDenoiser's choice: v0 when set, else pad when set (and shapes differ).  With
    neither, different lengths stay apart and the UNet runs cond and uncond separately."""
    if pad_v0 and cond.shape[1] != uncond.shape[1]:
        return pad_cond_uncond_v0(cond, uncond)
    if pad and cond.shape[1] != uncond.shape[1]:
        if empty is None:
            raise InvalidSyntax("padding cond and uncond needs the empty prompt's conditioning")
        return pad_cond_uncond(cond, uncond, empty)
    return cond, uncond, False


def chunk_count(token_count: int) -> int:
    """Chunks a prompt of `token_count` tokens needs (A1111's target token count / 75)."""
    return math.ceil(max(token_count, 1) / CHUNK_LENGTH)
