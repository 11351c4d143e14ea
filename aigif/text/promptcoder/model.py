"""The shipped piece n-gram model: lazy loading and table access (spec/prompt-coder.md §4).

The file is parsed into flat arrays once; per-context cumulative tables are built the
first time a context is used and cached, so loading costs ~0.1 s of CPU and a
long-running process pays for each context once.
"""

from __future__ import annotations

import copy
import sys
import threading
from array import array
from bisect import bisect_left
from functools import partial
from importlib import resources
from itertools import accumulate

from aigif import limits
from aigif.errors import UnknownTextCodec

MODEL_FILE = "prompt-model-v1.bin.zst"
# spec/prompt-coder.md §1: a payload names no model, so a different file would decode
# every codec-3 text wrongly without any error; the hash turns that into a clear one.
MODEL_SHA256 = "4ede521be7a3241bc7327468b5c161c7c144bc32ab3e71197c5f572cc0428c6f"
MODEL_MAGIC = b"AIGIFPC\x01"
EOS, BOS, OOV = 0, 1, 2
N_SPECIAL = 3
BYTE_END = 256
BYTE_START_CTX = 256
_UNSEEN = object()


def read_ints(raw: bytes, pos: int, typecode: str, n: int, what: str = "prompt-coder model file"):
    """n little-endian integers of array typecode at pos -> (end, array); ValueError naming
    `what` when the data ends first (the shipped data files, spec/prompt-coder.md §4, §10.1, §11.1)."""
    a = array(typecode)
    end = pos + a.itemsize * n
    if end > len(raw):
        raise ValueError(f"{what} is truncated")
    a.frombytes(raw[pos:end])
    if sys.byteorder != "little":
        a.byteswap()
    return end, a


class Context:
    """One n-gram context's table: symbols (ascending), cumulative freqs, escape freq."""

    __slots__ = ("syms", "cum", "esc", "_index", "_symset")

    def __init__(self, syms, freqs, esc: int) -> None:
        self.syms = syms
        self.cum = [0, *accumulate(freqs)]
        self.esc = esc
        self._index = None
        self._symset = None

    @property
    def has_symset(self) -> bool:
        return self._symset is not None

    @property
    def symset(self) -> frozenset[int]:
        if self._symset is None:
            self._symset = frozenset(self.syms)
        return self._symset

    @property
    def index(self) -> dict[int, int]:
        if self._index is None:
            self._index = {s: i for i, s in enumerate(self.syms)}
        return self._index


class Model:
    def __init__(self, raw: bytes) -> None:
        if raw[:8] != MODEL_MAGIC:
            raise ValueError("not a prompt-coder model file")
        pos = 8
        pos, (n_vocab, max_order) = read_ints(raw, pos, "I", 2)
        self.n_vocab = n_vocab
        self.max_order = max_order
        lens = raw[pos : pos + n_vocab]
        pos += n_vocab
        self.vocab: list[bytes] = []
        for n in lens:
            self.vocab.append(raw[pos : pos + n])
            pos += n
        self.piece_ids = {w.decode("utf-8", "surrogatepass"): i for i, w in enumerate(self.vocab) if i >= N_SPECIAL}
        self._orders = {}
        for k in range(max_order, 0, -1):
            pos, self._orders[k] = self.read_order_table(raw, pos)
        pos, order0 = read_ints(raw, pos, "I", n_vocab)
        pos, byte_freqs = read_ints(raw, pos, "H", 257 * 257)
        if pos != len(raw):
            raise ValueError("prompt-coder model file has trailing bytes")
        self.order0 = Context(list(range(n_vocab)), order0, 0)
        self.bytes_ctx = [Context(list(range(257)), byte_freqs[i * 257 : (i + 1) * 257], 0) for i in range(257)]

    @classmethod
    def read_order_table(cls, raw: bytes, pos: int):
        """One order-k table (spec/prompt-coder.md §4) at pos -> (end, table); the table is
        (find: key -> index or -1, ends, esc, syms, freqs, cache of the contexts built from it)."""
        pos, (n_ctx, n_ent) = read_ints(raw, pos, "I", 2)
        pos, keys = read_ints(raw, pos, "Q", n_ctx)
        pos, ends = read_ints(raw, pos, "I", n_ctx)
        pos, esc = read_ints(raw, pos, "H", n_ctx)
        pos, syms = read_ints(raw, pos, "H", n_ent)
        pos, freqs = read_ints(raw, pos, "H", n_ent)
        # Sorted keys searched by bisection rather than a dict: a dict of the ~1.2 M
        # contexts would cost ~120 MB and most of the load time.
        return pos, (partial(find_sorted, keys), ends, esc, syms, freqs, {})

    def extended(self, orders: dict, max_order: int) -> "Model":
        """This model with tables of higher orders on top (text codec 6, spec/prompt-coder.md
        §11): the vocabulary, the byte model and the tables of orders 1..N are shared."""
        m = copy.copy(self)
        m._orders = {**self._orders, **orders}
        m.max_order = max_order
        return m

    def context(self, k: int, key: int) -> Context | None:
        """The order-k context with this key, or None; both answers are cached."""
        find, ends, esc, syms, freqs, cache = self._orders[k]
        ctx = cache.get(key, _UNSEEN)
        if ctx is _UNSEEN:
            i = find(key)
            if i < 0:
                ctx = None
            else:
                lo = ends[i - 1] if i else 0
                hi = ends[i]
                ctx = Context(syms[lo:hi].tolist(), freqs[lo:hi], esc[i])
            if len(cache) >= limits.MAX_PROMPT_CONTEXTS_CACHED:
                cache.clear()
            cache[key] = ctx
        return ctx


def find_sorted(keys, key: int) -> int:
    """The index of key in the strictly increasing keys, or -1."""
    i = bisect_left(keys, key)
    return i if i < len(keys) and keys[i] == key else -1


_model: Model | None = None
_lock = threading.Lock()


def load_data_file(name: str, sha256: str) -> bytes:
    """A shipped data file, verified; UnknownTextCodec when missing or not the specified one."""
    import hashlib

    try:
        data = resources.files(__package__).joinpath("data", name).read_bytes()
    except OSError as exc:
        raise UnknownTextCodec(f"prompt-coder data file {name} is not installed: {exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise UnknownTextCodec(f"prompt-coder data file {name} is not the one spec/prompt-coder.md specifies")
    return data


def get_model() -> Model:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import zstandard

                packed = load_data_file(MODEL_FILE, MODEL_SHA256)
                _model = Model(zstandard.ZstdDecompressor().decompress(packed, max_output_size=limits.MAX_PROMPT_MODEL_RAW_BYTES))
    return _model
