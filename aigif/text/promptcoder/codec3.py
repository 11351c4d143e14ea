"""Text codec 3: piece n-gram model + range coder (spec/prompt-coder.md §6).

Per piece, the coder tries the order-N, ..., 2, 1 contexts (N = 4 in model v1; PPM with
exclusion: an escape from a context removes its symbols from the lower ones), then the
order-0 table, which holds every symbol.  Pieces outside the vocabulary are coded as the OOV symbol followed
by their UTF-8 bytes under an order-1 byte model.  EOS ends the text, so the payload
needs no length field.

The decoder's work is bounded by the payload's length (rangecoder.max_decisions), and
`encode` raises PayloadBoundExceeded for a text too repetitive to meet that bound: the
SYNTAX coder then picks another text codec for it.
"""

from __future__ import annotations

from bisect import bisect_right

from aigif import limits
from aigif.errors import InvalidText, LimitExceeded

from ..frames import utf8

from .model import BOS, BYTE_END, BYTE_START_CTX, EOS, OOV, Context, get_model
from .rangecoder import PayloadBoundExceeded, RangeDecoder, RangeEncoder
from .tokenize import pieces


_reduced_cache: dict[tuple, tuple] = {}


def _reduced(ctx: Context, escaped: list[Context]):
    """Indices (ascending) of ctx's symbols excluded by the contexts escaped from, and their mass.

    The work is proportional to the excluded symbols (thousands after an escape from a
    big context), and the same chains of contexts recur from prompt to prompt, so the
    result is cached per chain (contexts are cached by the model for good, so identity
    keys are stable).
    """
    key = (ctx, *escaped)
    hit = _reduced_cache.get(key)
    if hit is not None:
        return hit
    excluded = escaped[0].symset
    for other in escaped[1:]:
        excluded = excluded | other.symset
    common = excluded & ctx.symset
    index = ctx.index
    cum = ctx.cum
    idx = sorted([index[s] for s in common])
    removed = 0
    for i in idx:
        removed += cum[i + 1] - cum[i]
    if len(_reduced_cache) >= limits.MAX_PROMPT_EXCLUSIONS_CACHED:
        _reduced_cache.clear()
    hit = _reduced_cache[key] = (idx, removed)
    return hit


def _context_keys(history: list[int], n_vocab: int) -> list[tuple[int, int]]:
    """(order, key) from the highest order down; key = the last k symbols in base n_vocab."""
    keys = []
    key = 0
    weight = 1
    for k, sym in enumerate(reversed(history), 1):
        key += sym * weight
        weight *= n_vocab
        keys.append((k, key))
    keys.reverse()
    return keys


def encode(text: str) -> bytes:
    utf8(text)  # refuse lone surrogates before coding anything
    model = get_model()
    ids = model.piece_ids
    n_vocab = model.n_vocab
    enc = RangeEncoder()
    context = model.context
    order0 = model.order0
    byte_ctx = model.bytes_ctx
    history = [BOS] * model.max_order
    for piece in [*pieces(text), None]:
        if piece is None:
            sym = EOS
        else:
            sym = ids.get(piece, OOV)
        escaped: list[Context] = []  # contexts escaped from whose symbols are excluded
        coded = False
        for k, key in _context_keys(history, n_vocab):
            ctx = context(k, key)
            if ctx is None:
                continue
            cum = ctx.cum
            mass = cum[-1]
            if escaped:
                idx, removed = _reduced(ctx, escaped)
                mass -= removed
                if mass == 0:
                    continue
            else:
                idx = ()
            total = mass + ctx.esc
            i = ctx.index.get(sym)
            if i is not None:
                start = cum[i]
                for j in idx:
                    if j >= i:
                        break
                    start -= cum[j + 1] - cum[j]
                enc.encode(start, cum[i + 1] - cum[i], total)
                coded = True
                break
            enc.encode(mass, ctx.esc, total)
            if k > 1:
                escaped.append(ctx)
        if not coded:
            cum = order0.cum
            enc.encode(cum[sym], cum[sym + 1] - cum[sym], cum[-1])
        if sym == OOV:
            prev = BYTE_START_CTX
            for byte in [*piece.encode("utf-8"), BYTE_END]:
                cum = byte_ctx[prev].cum
                enc.encode(cum[byte], cum[byte + 1] - cum[byte], cum[-1])
                prev = byte
        history.append(sym)
        del history[0]
    return enc.finish()


def decode(data: bytes, max_bytes: int) -> str:
    model = get_model()
    vocab = model.vocab
    n_vocab = model.n_vocab
    context = model.context
    order0 = model.order0
    byte_ctx = model.bytes_ctx
    dec = RangeDecoder(bytes(data))
    target = dec.target
    consume = dec.consume
    out = bytearray()
    history = [BOS] * model.max_order
    try:
        while True:
            escaped: list[Context] = []
            sym = -1
            for k, key in _context_keys(history, n_vocab):
                ctx = context(k, key)
                if ctx is None:
                    continue
                cum = ctx.cum
                mass = cum[-1]
                if escaped:
                    idx, removed = _reduced(ctx, escaped)
                    mass -= removed
                    if mass == 0:
                        continue
                else:
                    idx = ()
                v = target(mass + ctx.esc)
                if v >= mass:
                    consume(mass, ctx.esc)
                    if k > 1:
                        escaped.append(ctx)
                    continue
                # Map the slot in the reduced table back to the full table: every
                # excluded symbol that starts at or before it shifts it right.
                pos = v
                for j in idx:
                    if cum[j] <= pos:
                        pos += cum[j + 1] - cum[j]
                    else:
                        break
                i = bisect_right(cum, pos) - 1
                start = cum[i]
                for j in idx:
                    if j >= i:
                        break
                    start -= cum[j + 1] - cum[j]
                consume(start, cum[i + 1] - cum[i])
                sym = ctx.syms[i]
                break
            if sym < 0:
                cum = order0.cum
                v = target(cum[-1])
                sym = bisect_right(cum, v) - 1
                consume(cum[sym], cum[sym + 1] - cum[sym])
            if sym == EOS:
                break
            if sym == OOV:
                prev = BYTE_START_CTX
                while True:
                    cum = byte_ctx[prev].cum
                    v = target(cum[-1])
                    byte = bisect_right(cum, v) - 1
                    consume(cum[byte], cum[byte + 1] - cum[byte])
                    if byte == BYTE_END:
                        if prev == BYTE_START_CTX:
                            # The encoder never spells an empty piece; refusing it also
                            # guarantees every decoded symbol grows the output.
                            raise InvalidText("codec-3 text payload is corrupt (empty spelled piece)")
                        break
                    out.append(byte)
                    if len(out) > max_bytes:
                        raise LimitExceeded(f"coded text decodes to more than {max_bytes} bytes")
                    prev = byte
            else:
                out += vocab[sym]
                if len(out) > max_bytes:
                    raise LimitExceeded(f"coded text decodes to more than {max_bytes} bytes")
            history.append(sym)
            del history[0]
    except PayloadBoundExceeded as exc:
        raise InvalidText(f"codec-3 text payload is corrupt ({exc})") from None
    except ValueError:
        raise InvalidText("codec-3 text payload is corrupt (range decoder left its interval)") from None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"codec-3 text payload decodes to invalid UTF-8 at byte {exc.start}") from None


# Codec 5 runs this same static chain (spec/prompt-coder.md §10) and shares its caches.
context_keys = _context_keys
reduced_exclusions = _reduced
