"""The A1111 engine's text conditioning against A1111 v1.10.1's own
(tests/goldens/a1111/conditioning.json, made by tools/goldens/a1111_conditioning_goldens.py
around the embedded tiny-sd CLIP): token chunks, multipliers, embedding placements and
infotext values exactly; the conditioning tensors bit for bit (sha256 of the float32
bytes), with the first values and max |x| compared first so that a mismatch shows
numbers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path

import pytest
from aigif import limits  # noqa: E402

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

from aigif.diffusion.engines.a1111 import conditioning as cd  # noqa: E402
from aigif.errors import AigifError, InvalidSyntax, LimitExceeded  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
TINY_SD = ROOT / "registry" / "embedded" / "tiny-sd"
GOLDENS = json.loads((Path(__file__).parents[3] / "goldens" / "a1111" / "conditioning.json").read_text(encoding="utf-8"))
DEFAULTS = GOLDENS["default_options"]


def options(overrides: dict) -> cd.ConditioningOptions:
    merged = {**DEFAULTS, **overrides}
    return cd.ConditioningOptions(
        emphasis=merged["emphasis"], comma_padding_backtrack=merged["comma_padding_backtrack"],
        clip_skip=merged["CLIP_stop_at_last_layers"], sdxl_clip_l_skip=merged["sdxl_clip_l_skip"],
        add_ti_hashes=merged["textual_inversion_add_hashes_to_infotext"])


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def check(tensor, expected):
    values = np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype="<f4")
    flat = values.reshape(-1)
    assert list(values.shape) == expected["shape"]
    got = [float(v) for v in flat[:4]] + [float(flat[int(k)]) for k in expected["values"]]
    want = expected["head"] + list(expected["values"].values())
    assert all(_same(a, b) for a, b in zip(got, want)), (got, want)
    assert _same(float(np.abs(flat).max()), expected["max_abs"])
    assert hashlib.sha256(values.tobytes()).hexdigest() == expected["sha256"]


@contextlib.contextmanager
def biased_final_norm(model):
    """The golden's second model: the tiny CLIP with a bias in its final layer norm."""
    saved = model.final_layer_norm.bias.detach().clone()
    with torch.no_grad():
        model.final_layer_norm.bias.copy_(torch.tensor(GOLDENS["biased_final_layer_norm_bias"]))
    try:
        yield
    finally:
        with torch.no_grad():
            model.final_layer_norm.bias.copy_(saved)


@pytest.fixture(scope="module")
def clip():
    tokenizer = transformers.CLIPTokenizer.from_pretrained(str(TINY_SD / "tokenizer"), local_files_only=True)
    model = transformers.CLIPTextModel.from_pretrained(str(TINY_SD / "text_encoder"), local_files_only=True).eval()
    return tokenizer, model


@pytest.fixture(scope="module")
def embedding_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("embeddings")
    for record in GOLDENS["embeddings"]["files"]:
        tensors = {k: torch.tensor(v, dtype=torch.float32) for k, v in record["tensors"].items()}
        safetensors_torch.save_file(tensors, str(directory / record["file"]))
    return directory


@pytest.fixture(scope="module")
def database(clip, embedding_dir):
    """The embeddings that A1111 loaded; its refusals are ours too (checked below)."""
    tokenizer, model = clip
    encoder = cd.ClipTextEncoder(tokenizer, model)
    db = cd.EmbeddingDatabase(encoder.vocab.tokenize, expected_width=encoder.width)
    for path in sorted(embedding_dir.iterdir()):
        if path.name not in GOLDENS["embeddings"]["refused"]:
            db.add(cd.load_embedding_file(path))
    return db


def test_embedding_files_are_the_goldens(embedding_dir):
    """The files written here are byte for byte A1111's (so TI hashes can match)."""
    for record in GOLDENS["embeddings"]["files"]:
        assert hashlib.sha256((embedding_dir / record["file"]).read_bytes()).hexdigest() == record["sha256"]


def test_embedding_database_as_a1111(clip, embedding_dir, database):
    golden = GOLDENS["embeddings"]
    assert database.expected_width == golden["expected_shape"]
    assert sorted(database.by_name) == sorted(golden["loaded"])
    assert sorted(database.skipped) == golden["skipped"]
    for name, expected in golden["loaded"].items():
        embedding = database.by_name[name]
        assert (embedding.count, embedding.width) == (expected["vectors"], expected["shape"])
        assert (embedding.sha256, embedding.shorthash) == (expected["hash"], expected["shorthash"])
    lookup = {str(k): [[ids, e.name] for ids, e in v] for k, v in sorted(database._by_first_id.items())}
    assert lookup == golden["ids_lookup"]
    # what A1111 refused (reported and skipped), this module refuses with an error
    for file in golden["refused"]:
        with pytest.raises(cd.InvalidEmbedding):
            cd.load_embedding_file(embedding_dir / file)


def _encoder_for(clip, kind):
    tokenizer, model = clip
    if kind == "pad0":
        return cd.ClipTextEncoder(tokenizer, model, pad_token=0)
    return cd.ClipTextEncoder(tokenizer, model, kind={"sd1": "sd1", "sdxl_l": "sdxl_l"}[kind])


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=[c["label"] for c in GOLDENS["cases"]])
def test_encoder_as_a1111(clip, database, case):
    encoder = _encoder_for(clip, case["model"])
    conditioner = cd.TextConditioner(encoder, options(case["options"]), database if case["embeddings"] else None)
    encoded = conditioner.encode(case["texts"])
    chunks = [[{"tokens": c.tokens, "multipliers": c.multipliers, "fixes": [[o, e.name] for o, e in c.fixes]}
               for c in per_text] for per_text in encoded.chunks]
    assert chunks == case["chunks"]
    assert encoded.token_count == case["token_count"]
    assert conditioner.infotext == case["extra_generation_params"]
    check(encoded.cond, case["cond"])
    with biased_final_norm(encoder.text_model):
        check(conditioner(case["texts"]), case["cond_biased"])


def test_ti_hashes_accumulate_as_a1111(clip, database):
    golden = GOLDENS["embeddings"]["ti_hashes_accumulation"]
    conditioner = cd.TextConditioner(_encoder_for(clip, "sd1"), options({}), database)
    seen = []
    for texts in golden["texts"]:
        conditioner.encode(texts)
        seen.append(conditioner.infotext.get("TI hashes"))
    assert seen == golden["after"]


@pytest.mark.parametrize("case", GOLDENS["schedules"], ids=[c["label"] for c in GOLDENS["schedules"]])
def test_conditioning_schedule_as_a1111(clip, case):
    with biased_final_norm(clip[1]):
        _check_schedule(clip, case)


def _check_schedule(clip, case):
    conditioner = cd.TextConditioner(_encoder_for(clip, "sd1"), options({}))
    c = cd.get_multicond_learned_conditioning(conditioner, case["prompts"], case["steps"], case["hires_steps"],
                                              case["use_old_scheduling"])
    uc = cd.get_learned_conditioning(conditioner, case["negative_prompts"], case["steps"], case["hires_steps"],
                                     case["use_old_scheduling"])
    assert [[[[s.end_at_step for s in comp.schedules], comp.weight] for comp in row] for row in c] == case["cond_schedules"]
    assert [[s.end_at_step for s in schedule] for schedule in uc] == case["uncond_schedules"]
    empty = conditioner([""])
    check(empty, case["empty_prompt"])
    for entry in case["per_step"]:
        conds_list, tensor = cd.reconstruct_multicond_batch(c, entry["step"])
        uncond = cd.reconstruct_cond_batch(uc, entry["step"])
        assert [[list(x) for x in row] for row in conds_list] == entry["conds_list"]
        check(tensor, entry["cond"])
        check(uncond, entry["uncond"])
        for mode, flags in (("pad_cond_uncond", {"pad": True}), ("pad_cond_uncond_v0", {"pad_v0": True})):
            if tensor.shape[1] == uncond.shape[1]:
                a, b, padded = cd.match_cond_uncond(tensor, uncond, empty, **flags)
            else:
                a, b, padded = (cd.pad_cond_uncond(tensor, uncond, empty) if mode == "pad_cond_uncond"
                                else cd.pad_cond_uncond_v0(tensor, uncond))
            check(a, entry[mode]["cond"])
            check(b, entry[mode]["uncond"])
            assert padded == entry[mode]["padded"]


def test_schedule_index_is_a1111s_off_by_one():
    """[a:b:5] over 10 steps: model calls 0..5 use a (six calls), 6.. use b."""
    schedule = [cd.ScheduledCond(5, torch.zeros(1)), cd.ScheduledCond(10, torch.ones(1))]
    assert [cd.schedule_index(schedule, s) for s in range(12)] == [0] * 6 + [1] * 5 + [0]


def test_unpadded_lengths_stay_apart(clip):
    cond, uncond = torch.zeros(1, 154, 4), torch.ones(1, 77, 4)
    a, b, padded = cd.match_cond_uncond(cond, uncond, None)
    assert (a is cond, b is uncond, padded) == (True, True, False)
    with pytest.raises(InvalidSyntax):
        cd.match_cond_uncond(cond, uncond, None, pad=True)


@pytest.mark.parametrize("kwargs", [
    {"emphasis": "Strong"}, {"comma_padding_backtrack": -1}, {"comma_padding_backtrack": 75},
    {"comma_padding_backtrack": True}, {"clip_skip": 0}, {"clip_skip": 1.5},
])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(InvalidSyntax):
        cd.ConditioningOptions(**kwargs)


def test_clip_skip_beyond_the_layers_is_refused(clip):
    conditioner = cd.TextConditioner(_encoder_for(clip, "sd1"), cd.ConditioningOptions(clip_skip=4))
    with pytest.raises(InvalidSyntax):
        conditioner(["a cat"])


def test_only_safetensors_embeddings_are_read(tmp_path):
    pickled = tmp_path / "evil.pt"
    pickled.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(cd.InvalidEmbedding):
        cd.load_embedding_file(pickled)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 40)
    with pytest.raises(cd.InvalidEmbedding):
        cd.load_embedding_file(garbage)
    with pytest.raises(AigifError):
        cd.load_embedding_file(tmp_path / "missing.safetensors")


def test_embedding_bounds(tmp_path, monkeypatch):
    too_many = tmp_path / "many.safetensors"
    safetensors_torch.save_file({"emb_params": torch.zeros(cd.MAX_EMBEDDING_VECTORS + 1, 32)}, str(too_many))
    with pytest.raises(cd.InvalidEmbedding):
        cd.load_embedding_file(too_many)
    monkeypatch.setattr(limits, "MAX_EMBEDDING_FILE_BYTES", 16)
    with pytest.raises(LimitExceeded):
        cd.load_embedding_file(too_many)


def test_load_dir_reads_safetensors_and_lists_the_rest(clip, embedding_dir, tmp_path):
    tokenizer, model = clip
    encoder = cd.ClipTextEncoder(tokenizer, model)
    (tmp_path / "sub").mkdir()
    for record in GOLDENS["embeddings"]["files"]:
        if Path(record["file"]).stem in ("mystyle", "wide"):
            (tmp_path / "sub" / record["file"]).write_bytes((embedding_dir / record["file"]).read_bytes())
    (tmp_path / "old.pt").write_bytes(b"not read")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    db = cd.EmbeddingDatabase(encoder.vocab.tokenize, expected_width=encoder.width)
    assert db.load_dir(tmp_path) == ["old.pt"]
    assert (sorted(db.by_name), sorted(db.skipped)) == (["mystyle"], ["wide"])
    with pytest.raises(cd.InvalidEmbedding):  # the same name twice
        db.add(db.by_name["mystyle"])


def test_names_with_the_same_tokens_are_refused(clip):
    tokenizer, model = clip
    encoder = cd.ClipTextEncoder(tokenizer, model)
    db = cd.EmbeddingDatabase(encoder.vocab.tokenize, expected_width=32)
    db.add(cd.Embedding("Castle", torch.zeros(1, 32)))
    with pytest.raises(cd.InvalidEmbedding):  # CLIP lower-cases: same tokens as "Castle"
        db.add(cd.Embedding("castle", torch.zeros(1, 32)))


def test_sdxl_embedding_layout():
    embedding = cd.embedding_from_tensors("x", {"clip_l": torch.zeros(2, 8), "clip_g": torch.ones(2, 12)})
    assert (embedding.count, embedding.width) == (2, 20)
    assert torch.equal(embedding.for_encoder("clip_g"), torch.ones(2, 12))
    with pytest.raises(cd.InvalidEmbedding):
        cd.embedding_from_tensors("y", {"clip_l": torch.zeros(2, 8), "clip_g": torch.ones(3, 12)})


def test_work_is_bounded_by_the_prompt(clip):
    """A long prompt costs chunks in proportion to its tokens (each 77 long), nothing more."""
    tokenizer, model = clip
    encoder = cd.ClipTextEncoder(tokenizer, model)
    started = time.process_time()
    chunks, count = cd.tokenize_line("red, " * 2000, encoder.vocab, cd.ConditioningOptions())
    assert time.process_time() - started < 30  # a runaway guard, not a timing
    assert all(len(c.tokens) == len(c.multipliers) == 77 for c in chunks)
    assert math.ceil(4000 / 75) <= len(chunks) <= math.ceil(4000 / 74)
    assert count == 75 * (len(chunks) - 1) + sum(t != encoder.vocab.id_end for t in chunks[-1].tokens[1:-1])
