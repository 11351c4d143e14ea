"""Model v1's static chain, shared by text codecs 3, 5 and 6 (spec/prompt-coder.md §6, §10.3, §11).

One symbol is coded in the first context of orders N..1 that is present, not wholly
excluded and holds it (escapes coded in the contexts before it, PPM exclusion from
orders N..2), else at order 0; an OOV piece is then spelled under the order-1 byte model.
Codec 3 is this chain alone; codec 5 runs it under its adaptive models; codec 6 is this
chain over model v1 extended with orders 8..5.  They must take exactly the same
decisions, so they share this one implementation.

Speed notes (the cold decode of a fresh process is dominated by first uses):
* the context keys of the next symbol come from the previous keys (`advance`), not from
  the whole history;
* exclusions are found with the symbol sets and indices of the contexts involved (built
  once per context), except for a few candidates against a big context met for the first
  time, which are found by bisection in its sorted symbols; the result is cached per
  chain of contexts, which recur from prompt to prompt.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from aigif import limits
from aigif.errors import LimitExceeded

from .model import BOS, BYTE_END, BYTE_START_CTX, Context, Model

Keys = list[tuple[int, int]]  # (order, key), highest order first
# A key is the context's number in base V: exact up to order 4 (V**4 < 2**64), mod 2**32
# above it (codec 6's orders 5..8, spec/prompt-coder.md §11.1), kept mod 2**32 from step to
# step, which gives the same residue as the whole number would.
KEY_MASK = (None, *[(1 << 64) - 1] * 4, *[(1 << 32) - 1] * 4)


def initial_keys(model: Model) -> Keys:
    """The context keys at the start of a text: N symbols of BOS."""
    n_vocab = model.n_vocab
    keys = []
    key = 0
    for k in range(1, model.max_order + 1):
        key = (key * n_vocab + BOS) & KEY_MASK[k]
        keys.append((k, key))
    keys.reverse()
    return keys


def advance(keys: Keys, n_vocab: int, sym: int) -> Keys:
    """The keys after `sym`: the order-k key is the old order-(k-1) key times V plus sym."""
    n = len(keys)
    mask = KEY_MASK
    new = [(n - i + 1, (keys[i][1] * n_vocab + sym) & mask[n - i + 1]) for i in range(1, n)]
    new.append((1, sym))
    return new


_exclusion_cache: dict[tuple, tuple] = {}


def exclusions(ctx: Context, escaped: list[Context]) -> tuple[list[int], int]:
    """Indices (ascending) of ctx's symbols that the contexts escaped from hold, and their mass."""
    key = (ctx, *escaped)
    hit = _exclusion_cache.get(key)
    if hit is not None:
        return hit
    syms = ctx.syms
    n = len(syms)
    if not ctx.has_symset and sum(len(other.syms) for other in escaped) * 32 < n:
        # a few candidates against a big context met for the first time: bisect each in
        # its sorted symbols rather than build the context's symbol set and index
        found = set()
        for other in escaped:
            for s in other.syms:
                i = bisect_left(syms, s)
                if i < n and syms[i] == s:
                    found.add(i)
        idx = sorted(found)
    else:
        # comparable sizes: intersect the symbol sets (set and index built once per context)
        excluded = escaped[0].symset
        for other in escaped[1:]:
            excluded = excluded | other.symset
        index = ctx.index
        idx = sorted([index[s] for s in excluded & ctx.symset])
    cum = ctx.cum
    removed = 0
    for i in idx:
        removed += cum[i + 1] - cum[i]
    if len(_exclusion_cache) >= limits.MAX_PROMPT_EXCLUSIONS_CACHED:
        _exclusion_cache.clear()
    hit = _exclusion_cache[key] = (idx, removed)
    return hit


def _coding_tables(model: Model, keys: Keys, escaped: list[Context]):
    """(order, context, excluded indices, mass left) of each context of orders N..1 in which
    a decision is coded: present and not wholly excluded.  The caller appends to `escaped`
    after each escape; the next context's exclusions are computed after that."""
    context = model.context
    for k, key in keys:
        ctx = context(k, key)
        if ctx is None:
            continue
        if escaped:
            idx, removed = exclusions(ctx, escaped)
            mass = ctx.cum[-1] - removed
            if mass == 0:
                continue
        else:
            idx, mass = (), ctx.cum[-1]
        yield k, ctx, idx, mass


def encode_symbol(code, model: Model, keys: Keys, sym: int) -> None:
    """Code `sym` through the chain; code(start, freq, total) is the range encoder's."""
    escaped: list[Context] = []
    for k, ctx, idx, mass in _coding_tables(model, keys, escaped):
        cum = ctx.cum
        total = mass + ctx.esc
        syms = ctx.syms
        i = bisect_left(syms, sym)
        if i < len(syms) and syms[i] == sym:
            start = cum[i]
            for j in idx:
                if j >= i:
                    break
                start -= cum[j + 1] - cum[j]
            code(start, cum[i + 1] - cum[i], total)
            return
        code(mass, ctx.esc, total)
        if k > 1:
            escaped.append(ctx)
    cum = model.order0.cum
    code(cum[sym], cum[sym + 1] - cum[sym], cum[-1])


def decode_symbol(target, consume, model: Model, keys: Keys) -> int:
    """The next symbol of the chain; target/consume are the range decoder's."""
    escaped: list[Context] = []
    for k, ctx, idx, mass in _coding_tables(model, keys, escaped):
        cum = ctx.cum
        v = target(mass + ctx.esc)
        if v >= mass:
            consume(mass, ctx.esc)
            if k > 1:
                escaped.append(ctx)
            continue
        # Map the slot in the reduced table back to the full table: every excluded
        # symbol that starts at or before it shifts it right.
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
        return ctx.syms[i]
    cum = model.order0.cum
    v = target(cum[-1])
    sym = bisect_right(cum, v) - 1
    consume(cum[sym], cum[sym + 1] - cum[sym])
    return sym


def encode_spelling(code, model: Model, piece: bytes) -> None:
    """An OOV piece's bytes, then END, under the order-1 byte model."""
    byte_ctx = model.bytes_ctx
    prev = BYTE_START_CTX
    for byte in [*piece, BYTE_END]:
        cum = byte_ctx[prev].cum
        code(cum[byte], cum[byte + 1] - cum[byte], cum[-1])
        prev = byte


def decode_spelling(target, consume, model: Model, used: int, max_bytes: int) -> bytearray:
    """A spelled piece's bytes (empty when END comes first: the caller's codec refuses
    that); LimitExceeded as soon as `used` bytes of text before it plus its own pass
    max_bytes."""
    byte_ctx = model.bytes_ctx
    out = bytearray()
    prev = BYTE_START_CTX
    while True:
        cum = byte_ctx[prev].cum
        v = target(cum[-1])
        byte = bisect_right(cum, v) - 1
        consume(cum[byte], cum[byte + 1] - cum[byte])
        if byte == BYTE_END:
            return out
        out.append(byte)
        if used + len(out) > max_bytes:
            raise LimitExceeded(f"coded text decodes to more than {max_bytes} bytes")
        prev = byte
