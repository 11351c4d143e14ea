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

from aigif.errors import InvalidText, LimitExceeded

from ..frames import utf8

from . import chain
from .model import EOS, OOV, Model, get_model
from .rangecoder import PayloadBoundExceeded, RangeDecoder, RangeEncoder
from .tokenize import pieces


def encode(text: str) -> bytes:
    return encode_with(get_model(), text)


def decode(data: bytes, max_bytes: int) -> str:
    return decode_with(get_model(), data, max_bytes, "codec-3")


def encode_with(model: Model, text: str) -> bytes:
    """The static chain of `model` over the text's pieces (codec 3; codec 6 with its model)."""
    utf8(text)  # refuse lone surrogates before coding anything
    ids = model.piece_ids
    n_vocab = model.n_vocab
    enc = RangeEncoder()
    code = enc.encode
    keys = chain.initial_keys(model)
    for piece in [*pieces(text), None]:
        sym = EOS if piece is None else ids.get(piece, OOV)
        chain.encode_symbol(code, model, keys, sym)
        if sym == OOV:
            chain.encode_spelling(code, model, piece.encode("utf-8"))
        keys = chain.advance(keys, n_vocab, sym)
    return enc.finish()


def decode_with(model: Model, data: bytes, max_bytes: int, name: str) -> str:
    """Inverse of encode_with; `name` (e.g. "codec-3") names the codec in errors."""
    vocab = model.vocab
    n_vocab = model.n_vocab
    dec = RangeDecoder(bytes(data))
    target = dec.target
    consume = dec.consume
    out = bytearray()
    keys = chain.initial_keys(model)
    try:
        while True:
            sym = chain.decode_symbol(target, consume, model, keys)
            if sym == EOS:
                break
            if sym == OOV:
                spelled = chain.decode_spelling(target, consume, model, len(out), max_bytes)
                if not spelled:
                    # The encoder never spells an empty piece; refusing it also
                    # guarantees every decoded symbol grows the output.
                    raise InvalidText(f"{name} text payload is corrupt (empty spelled piece)")
                out += spelled
            else:
                out += vocab[sym]
                if len(out) > max_bytes:
                    raise LimitExceeded(f"coded text decodes to more than {max_bytes} bytes")
            keys = chain.advance(keys, n_vocab, sym)
    except PayloadBoundExceeded as exc:
        raise InvalidText(f"{name} text payload is corrupt ({exc})") from None
    except ValueError:
        raise InvalidText(f"{name} text payload is corrupt (range decoder left its interval)") from None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"{name} text payload decodes to invalid UTF-8 at byte {exc.start}") from None
