"""Text codec 5: codec 3's static model under adaptive models that learn within the text,
primed from newer prompts (spec/prompt-coder.md §10).

Codec 3's tables were counted on 2022-2023 prompts; newer prompts (pretty-printed JSON,
long prose, CJK, Midjourney parameters) use pieces and pairs those tables do not know, and
repeat *their own* pieces far more. Per piece, codec 5:

1. consults an adaptive order-2 context (the full symbols that followed the last two
   full symbols, with counts), unless model v1 has an order-4 context here (where the
   static model predicts better): one binary hit/escape decision whose weights are learned
   per text and per class of context, then the follower;
2. on an escape (or without such a context), codec 3's static chain exactly (orders 4..1
   with exclusion, then order 0), for the piece's static symbol (OOV for a piece outside
   the vocabulary of model v1);
3. after OOV: a primer's extra piece, a piece this text spelled earlier, or NEW (one
   decision among the groups present, weights learned per text), then the piece within
   its group (weights: counts);
4. NEW: the piece's UTF-8 bytes under codec 3's byte model; it then joins the spelled pieces.

The adaptive contexts and the extra pieces start from the primer (prompt-primer-v1.bin,
counted by tools/train_prompt_primer.py on the training half of prompts/modern/); a text
copies a primed context the first time it changes it.

Pieces are split as codec 3 splits them except that every CJK character (Han, kana,
Hangul, CJK punctuation and full-width forms) is a piece of its own, so that repeated
characters become spelled pieces that recur instead of one long spelled run.

Every table is bounded (ADAPTIVE_FOLLOWERS per context, the primer's pieces plus
MAX_LOCAL_PIECES), so the work per decision is bounded by constants, and codec 3's work
bound (rangecoder.max_decisions) applies unchanged: `encode` raises PayloadBoundExceeded
for a text too dense for it, and the field then gets another codec.
"""

from __future__ import annotations

import re
import threading

from aigif.errors import InvalidText, LimitExceeded, UnknownTextCodec

from ..frames import utf8

from . import chain
from .model import BOS, EOS, OOV, get_model, load_data_file, read_ints
from .rangecoder import PayloadBoundExceeded, RangeDecoder, RangeEncoder

PRIMER_FILE = "prompt-primer-v1.bin"
PRIMER_SHA256 = "dd18e95c1d3d971c90ab8164359b575c843e54d8e391d0560d26884a57ad32ba"
PRIMER_MAGIC = b"AIGIFPP\x01"
PRIMER_WHAT = "prompt-primer file"

ADAPTIVE_FOLLOWERS = 32  # distinct followers an adaptive context keeps (later ones are not added)
MAX_LOCAL_PIECES = 256  # pieces a text spells and remembers (later ones are spelled each time)
STATIC_GATE = 4  # the adaptive context is skipped when model v1 has a context of this order
# (hit, escape) starting weights of the adaptive contexts' binary decision, per class:
# 0 = born in this text, one follower seen once; 1 = born in this text, one follower seen
# more often; 2 = born in this text, several followers; 3 = primed, one follower;
# 4 = primed, several followers. Learned per text (+1 per outcome): tag lists rarely
# repeat a pair's follower, JSON and long prose often do.
SEE_START = ((1, 4), (2, 3), (1, 3), (2, 3), (2, 3))
# (extra, spelled, NEW) starting weights after OOV, learned per text the same way: a piece
# this text already spelled is far likelier to recur than any one of the primer's extras.
GROUP_START = (1, 2, 3)
EXTRA, SPELLED, NEW = 0, 1, 2


_CJK = "\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_PIECE = re.compile(
    "[" + _CJK + "]"  # one CJK character
    r"""|'(?:s|t|re|ve|m|ll|d)\b"""  # English clitics
    r"""| ?(?:(?![""" + _CJK + r"""])[^\W\d_])+"""  # a word (any other script), optionally with its leading space
    r"""| ?\d"""  # one digit
    r"""| ?(?:[^\s\w]|_)+"""  # a run of punctuation / symbols
    r"""|\s+(?!\S)|\s+"""  # whitespace runs (keep the last space for the next word)
    r"""|.""",  # anything else, so the split covers every string
    re.DOTALL,
)


def pieces(text: str) -> list[str]:
    return _PIECE.findall(text)


class Primer:
    """The primer file (spec/prompt-coder.md §10): extra pieces and primed contexts."""

    def __init__(self, raw: bytes, n_vocab: int) -> None:
        if raw[:8] != PRIMER_MAGIC:
            raise ValueError("not a prompt-primer file")
        pos = 8
        pos, (n_extra,) = read_ints(raw, pos, "I", 1, PRIMER_WHAT)
        lens = raw[pos : pos + n_extra]
        pos += n_extra
        self.extra: list[bytes] = []
        for n in lens:
            self.extra.append(raw[pos : pos + n])
            pos += n
        pos, counts = read_ints(raw, pos, "H", n_extra, PRIMER_WHAT)
        self.extra_counts = counts.tolist()
        self.extra_ids = {w.decode("utf-8"): n_vocab + j for j, w in enumerate(self.extra)}
        pos, (n_ctx, n_ent) = read_ints(raw, pos, "I", 2, PRIMER_WHAT)
        pos, first = read_ints(raw, pos, "I", n_ctx, PRIMER_WHAT)
        pos, second = read_ints(raw, pos, "I", n_ctx, PRIMER_WHAT)
        pos, ends = read_ints(raw, pos, "I", n_ctx, PRIMER_WHAT)
        pos, syms = read_ints(raw, pos, "I", n_ent, PRIMER_WHAT)
        pos, freqs = read_ints(raw, pos, "H", n_ent, PRIMER_WHAT)
        if pos != len(raw):
            raise ValueError("prompt-primer file has trailing bytes")
        # Primed contexts are tuples, never changed: a text copies one before learning in it.
        self.contexts: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        lo = 0
        for a, b, hi in zip(first, second, ends):
            self.contexts[(a, b)] = (tuple(syms[lo:hi]), tuple(freqs[lo:hi]))
            lo = hi


_primer: Primer | None = None
_lock = threading.Lock()


def get_primer() -> Primer:
    global _primer
    if _primer is None:
        model = get_model()
        with _lock:
            if _primer is None:
                raw = load_data_file(PRIMER_FILE, PRIMER_SHA256)
                try:
                    _primer = Primer(raw, model.n_vocab)
                except ValueError as exc:
                    raise UnknownTextCodec(f"prompt-coder data file {PRIMER_FILE} is unreadable: {exc}") from None
    return _primer


class _State:
    """What a text has learned so far: adaptive contexts, known pieces, decision weights."""

    __slots__ = ("primed", "own", "known_counts", "n_extra", "n_spelled", "see", "groups")

    def __init__(self, primer: Primer) -> None:
        self.primed = primer.contexts
        self.own: dict[tuple[int, int], list] = {}  # key -> [syms, counts, class base]
        self.known_counts = list(primer.extra_counts)  # extra pieces, then this text's spelled ones
        self.n_extra = len(primer.extra_counts)
        self.n_spelled = 0
        self.see = [list(w) for w in SEE_START]
        self.groups = list(GROUP_START)

    def present_groups(self) -> list[int]:
        """The groups an OOV piece can be in now: EXTRA if the primer has pieces, SPELLED
        once this text spelled one, NEW always."""
        return [g for g, ok in ((EXTRA, self.n_extra), (SPELLED, self.n_spelled), (NEW, True)) if ok]

    def context(self, key):
        """(syms, counts, class) of the adaptive context `key`, or None."""
        own = self.own.get(key)
        if own is not None:
            syms, counts, primed = own
        else:
            hit = self.primed.get(key)
            if hit is None:
                return None
            syms, counts = hit
            primed = True
        if primed:
            cls = 4 if len(syms) > 1 else 3
        elif len(syms) > 1:
            cls = 2
        else:
            cls = 0 if counts[0] == 1 else 1
        return syms, counts, cls

    def learn(self, key, sym: int) -> None:
        """After every symbol: the adaptive context of `key` counts it (consulted or not)."""
        own = self.own.get(key)
        if own is None:
            hit = self.primed.get(key)
            if hit is None:
                self.own[key] = [[sym], [1], False]
                return
            own = self.own[key] = [list(hit[0]), list(hit[1]), True]
        syms, counts = own[0], own[1]
        if sym in syms:
            counts[syms.index(sym)] += 1
        elif len(syms) < ADAPTIVE_FOLLOWERS:
            syms.append(sym)
            counts.append(1)


def _static_knows(context, keys) -> bool:
    """Whether model v1 has the order-STATIC_GATE context (keys: chain.Keys, highest order first)."""
    k, key = keys[len(keys) - STATIC_GATE]
    return context(k, key) is not None


def encode(text: str) -> bytes:
    utf8(text)  # refuse lone surrogates before coding anything
    model = get_model()
    primer = get_primer()
    ids = model.piece_ids
    extra_ids = primer.extra_ids
    n_vocab = model.n_vocab
    n_known0 = n_vocab + len(primer.extra)  # this text's spelled pieces are numbered from here
    context = model.context
    enc = RangeEncoder()
    code = enc.encode
    # the static context keys (orders N..1) of the static history, where known pieces are OOV
    keys = chain.initial_keys(model)
    prev2 = prev1 = BOS  # full symbols
    state = _State(primer)
    known_counts = state.known_counts
    n_extra = state.n_extra
    see = state.see
    groups = state.groups
    spelled_ids: dict[str, int] = {}
    for piece in [*pieces(text), None]:
        if piece is None:
            sym = EOS
        else:
            sym = ids.get(piece)
            if sym is None:
                sym = extra_ids.get(piece)
                if sym is None:
                    sym = spelled_ids.get(piece, -1)  # -1: not known yet: NEW
        coded = False
        actx = state.context((prev2, prev1))
        if actx is not None and not _static_knows(context, keys):
            syms, counts, cls = actx
            weights = see[cls]
            hit, miss = weights
            if sym in syms:
                code(0, hit, hit + miss)
                weights[0] += 1
                if len(syms) > 1:
                    i = syms.index(sym)
                    code(sum(counts[:i]), counts[i], sum(counts))
                coded = True
            else:
                code(hit, miss, hit + miss)
                weights[1] += 1
        if not coded:
            ssym = sym if 0 <= sym < n_vocab else OOV
            chain.encode_symbol(code, model, keys, ssym)
            if ssym == OOV:
                j = sym - n_vocab
                group = NEW if sym < 0 else (EXTRA if j < n_extra else SPELLED)
                present = state.present_groups()
                if len(present) > 1:
                    weights = [groups[g] for g in present]
                    k = present.index(group)
                    code(sum(weights[:k]), weights[k], sum(weights))
                groups[group] += 1
                if group == EXTRA:
                    code(sum(known_counts[:j]), known_counts[j], sum(known_counts[:n_extra]))
                elif group == SPELLED:
                    code(sum(known_counts[n_extra:j]), known_counts[j], sum(known_counts[n_extra:]))
                if sym < 0:
                    chain.encode_spelling(code, model, piece.encode("utf-8"))
                    if state.n_spelled < MAX_LOCAL_PIECES:
                        sym = spelled_ids[piece] = n_known0 + state.n_spelled
                        state.n_spelled += 1
                        known_counts.append(0)
                    else:
                        sym = OOV  # spelled, not remembered: OOV in every context
        if sym >= n_vocab:
            known_counts[sym - n_vocab] += 1
        state.learn((prev2, prev1), sym)
        keys = chain.advance(keys, n_vocab, sym if sym < n_vocab else OOV)
        prev2, prev1 = prev1, sym
    return enc.finish()


def _pick(target, consume, counts) -> int:
    """One decision among `counts` (each ≥ 1): the index whose slot holds the target."""
    v = target(sum(counts))
    start = 0
    for i, c in enumerate(counts):
        if v < start + c:
            consume(start, c)
            return i
        start += c
    raise AssertionError("unreachable: target() < total")


def decode(data: bytes, max_bytes: int) -> str:
    model = get_model()
    primer = get_primer()
    vocab = model.vocab
    n_vocab = model.n_vocab
    n_extra = len(primer.extra)
    extra = primer.extra
    context = model.context
    dec = RangeDecoder(bytes(data))
    target = dec.target
    consume = dec.consume
    out = bytearray()
    keys = chain.initial_keys(model)
    prev2 = prev1 = BOS
    state = _State(primer)
    known_counts = state.known_counts
    see = state.see
    groups = state.groups
    spelled_pieces: list[bytes] = []
    try:
        while True:
            sym = -1
            actx = state.context((prev2, prev1))
            if actx is not None and not _static_knows(context, keys):
                syms, counts, cls = actx
                weights = see[cls]
                hit, miss = weights
                if target(hit + miss) < hit:
                    consume(0, hit)
                    weights[0] += 1
                    sym = syms[_pick(target, consume, counts) if len(syms) > 1 else 0]
                    if sym == OOV:
                        # encoders code OOV only in the static chain: every symbol grows the text
                        raise InvalidText("codec-5 text payload is corrupt (OOV in an adaptive context)")
                else:
                    consume(hit, miss)
                    weights[1] += 1
            spelled_now = False
            if sym < 0:
                sym = chain.decode_symbol(target, consume, model, keys)
                if sym == OOV:
                    present = state.present_groups()
                    group = present[_pick(target, consume, [groups[g] for g in present])] if len(present) > 1 else NEW
                    groups[group] += 1
                    if group == EXTRA:
                        sym = n_vocab + _pick(target, consume, known_counts[:n_extra])
                    elif group == SPELLED:
                        sym = n_vocab + n_extra + _pick(target, consume, known_counts[n_extra:])
                    else:
                        spelled_now = True
                        spelled = chain.decode_spelling(target, consume, model, len(out), max_bytes)
                        if not spelled:
                            raise InvalidText("codec-5 text payload is corrupt (empty spelled piece)")
                        out += spelled
                        if state.n_spelled < MAX_LOCAL_PIECES:
                            sym = n_vocab + n_extra + state.n_spelled
                            state.n_spelled += 1
                            spelled_pieces.append(bytes(spelled))
                            known_counts.append(0)
            if sym == EOS:
                break
            if sym >= n_vocab:
                j = sym - n_vocab
                known_counts[j] += 1
                if not spelled_now:
                    out += extra[j] if j < n_extra else spelled_pieces[j - n_extra]
            elif not spelled_now:
                out += vocab[sym]
            if len(out) > max_bytes:
                raise LimitExceeded(f"coded text decodes to more than {max_bytes} bytes")
            state.learn((prev2, prev1), sym)
            keys = chain.advance(keys, n_vocab, sym if sym < n_vocab else OOV)
            prev2, prev1 = prev1, sym
    except PayloadBoundExceeded as exc:
        raise InvalidText(f"codec-5 text payload is corrupt ({exc})") from None
    except ValueError:
        raise InvalidText("codec-5 text payload is corrupt (range decoder left its interval)") from None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"codec-5 text payload decodes to invalid UTF-8 at byte {exc.start}") from None
