"""Text codec 6: codec 3's static chain over model v1 extended with orders 8..5
(spec/prompt-coder.md §11).

Measured on the held-out splits (bench/prompt_high_order.py): the prompts v1 was trained
on repeat long runs of boilerplate ("masterpiece, best quality, ..." in Civitai prompts,
whole negative prompts) that an order-4 context over pieces (two or three words) cannot
see, so orders 5..8 counted on the same training split cut their ideal code length by
9-14 %.  Everything else is codec 3: the same vocabulary, byte model, order-0 table and
tables of orders 4..1, the same exclusion and the same range coder; only the chain starts
four orders higher.  The extension file holds orders 5..8 in a compact form of model
v1's order tables (§11.1): 32-bit keys (the context's number mod 2**32) stored as their
low 16 bits under 65,536 buckets of the high 16, a byte count of entries per context
instead of cumulative ends, and every u16 array as two byte planes.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from functools import partial
from itertools import accumulate

from aigif import limits

from . import codec3
from .model import Model, get_model, load_data_file, read_ints

ORDERS_FILE = "prompt-orders-v1.bin.zst"
ORDERS_SHA256 = "90469065e2e7b3a9f9a4ca33445b2186141b73210eb544be4e9706eaa2212665"
ORDERS_MAGIC = b"AIGIFPH\x01"
LOW_ORDER, HIGH_ORDER = 5, 8
BUCKETS = 1 << 16  # a key's high 16 bits pick its bucket, its low 16 bits are stored
WHAT = "prompt-coder order extension"

_model: Model | None = None
_lock = threading.Lock()


def find_bucketed(first, low, key: int) -> int:
    """The index of the 32-bit key in a bucketed table (§11.1), or -1."""
    b = key >> 16
    lo16 = key & 0xFFFF
    hi = first[b + 1]
    i = bisect_left(low, lo16, first[b], hi)
    return i if i < hi and low[i] == lo16 else -1


def _planes(raw: bytes, pos: int, n: int):
    """n u16 values stored as two byte planes (low bytes, then high bytes) -> (end, array)."""
    pos, low = read_ints(raw, pos, "B", n, WHAT)
    pos, high = read_ints(raw, pos, "B", n, WHAT)
    interleaved = bytearray(2 * n)  # back to little-endian u16s, which read_ints reads
    interleaved[0::2] = low
    interleaved[1::2] = high
    return pos, read_ints(interleaved, 0, "H", n, WHAT)[1]


def read_compact_table(raw: bytes, pos: int):
    """One order table of the extension (§11.1: bucketed 32-bit keys, u8 entry counts, u16
    arrays in byte planes) ->
    (end, table in the form of Model.read_order_table)."""
    pos, (n_ctx, n_ent) = read_ints(raw, pos, "I", 2, WHAT)
    pos, bucket = _planes(raw, pos, BUCKETS)
    pos, low = _planes(raw, pos, n_ctx)
    pos, counts = read_ints(raw, pos, "B", n_ctx, WHAT)
    pos, esc = _planes(raw, pos, n_ctx)
    pos, syms = _planes(raw, pos, n_ent)
    pos, freqs = _planes(raw, pos, n_ent)
    first = array("I", accumulate(bucket, initial=0))
    ends = array("I", accumulate(counts))
    if (ends[-1] if n_ctx else 0) != n_ent or first[BUCKETS] != n_ctx:
        raise ValueError(f"{WHAT}: entry or bucket counts do not add up")
    return pos, (partial(find_bucketed, first, low), ends, esc, syms, freqs, {})


def parse_orders(raw: bytes, base: Model) -> Model:
    """The extension file's content (after zstd) over `base` -> the extended model."""
    if raw[:8] != ORDERS_MAGIC:
        raise ValueError(f"not a {WHAT}")
    pos, (n_vocab, low, high) = read_ints(raw, 8, "I", 3, WHAT)
    if n_vocab != base.n_vocab or low != base.max_order + 1 or (low, high) != (LOW_ORDER, HIGH_ORDER):
        raise ValueError("the order extension does not fit model v1")
    orders = {}
    for k in range(high, low - 1, -1):
        pos, orders[k] = read_compact_table(raw, pos)
    if pos != len(raw):
        raise ValueError(f"{WHAT} has trailing bytes")
    return base.extended(orders, high)


def get_extended_model() -> Model:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import zstandard  # lazy: `import aigif` stays light

                base = get_model()
                packed = load_data_file(ORDERS_FILE, ORDERS_SHA256)
                raw = zstandard.ZstdDecompressor().decompress(packed, max_output_size=limits.MAX_PROMPT_MODEL_RAW_BYTES)
                _model = parse_orders(raw, base)
    return _model


def encode(text: str) -> bytes:
    return codec3.encode_with(get_extended_model(), text)


def decode(data: bytes, max_bytes: int) -> str:
    return codec3.decode_with(get_extended_model(), data, max_bytes, "codec-6")
