"""Mutators: plain byte mutations plus the structure-aware ones that get past the first
check a parser makes (a PNG chunk or AIGIF file re-sealed with a correct CRC, a JSON
document that still parses but holds a hostile value).

Every mutator takes a `random.Random` and returns new data; nothing here reads a clock
or the global RNG, so a campaign is a pure function of its --seed.
"""

from __future__ import annotations

import binascii
import json
import random
import struct
import zlib

from aigif.container import SIGNATURE as AIGIF_SIGNATURE
from aigif.pngchunks import SIGNATURE as PNG_SIGNATURE

MAX_BYTES = 2 << 20  # inputs never grow past this: a campaign explores structure, not size
MAX_TEXT = 80_000  # characters of one metadata field (issue 9 needed 40 KB for a 29 s parse)

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x10, 0x20, 0x3A, 0x22, 0x5B, 0x7B)
INTERESTING_U32 = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0)


# -- bytes ------------------------------------------------------------------------------
def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def mutate_bytes(rng: random.Random, data: bytes, donors: list[bytes] = ()) -> bytes:
    """One to four stacked byte-level mutations."""
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        op = rng.randrange(10)
        n = len(b)
        if op == 0 and n:  # bit flip
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # byte set, often to a boundary value
            b[rng.randrange(n)] = rng.choice(INTERESTING_BYTES) if rng.random() < 0.6 else rng.randrange(256)
        elif op == 2 and n:  # truncation
            del b[rng.randrange(n + 1):]
        elif op == 3:  # insertion
            pos = rng.randrange(n + 1)
            b[pos:pos] = _random_bytes(rng, rng.randrange(1, 9))
        elif op == 4 and n > 1:  # deletion of a run
            i = rng.randrange(n)
            del b[i:i + rng.randrange(1, 17)]
        elif op == 5 and n > 4:  # 32-bit boundary value
            i = rng.randrange(n - 3)
            b[i:i + 4] = struct.pack(">I", rng.choice(INTERESTING_U32))
        elif op == 6 and n > 2:  # duplicate a run in place
            i = rng.randrange(n)
            j = min(n, i + rng.randrange(1, 64))
            b[j:j] = b[i:j]
        elif op == 7 and donors:  # splice a run from another seed
            d = rng.choice(donors)
            if d:
                i = rng.randrange(len(d))
                piece = d[i:i + rng.randrange(1, 128)]
                pos = rng.randrange(n + 1)
                b[pos:pos + (rng.randrange(len(piece) + 1) if rng.random() < 0.5 else 0)] = piece
        elif op == 8 and n:  # a run of one repeated byte (length fields, LEB128 continuations)
            pos = rng.randrange(n + 1)
            b[pos:pos] = bytes([rng.choice(INTERESTING_BYTES)]) * rng.randrange(1, 32)
        elif n:  # arithmetic on one byte
            i = rng.randrange(n)
            b[i] = (b[i] + rng.choice((-1, 1, -16, 16, 127))) & 0xFF
    return bytes(b[:MAX_BYTES])


# -- AIGIF ------------------------------------------------------------------------------
def reseal_aigif(data: bytes) -> bytes:
    """Recompute the trailing CRC (16 or 32 bits, by the version byte's flag) so that a
    mutation reaches the segment parsers instead of stopping at E_CRC."""
    if len(data) < 6 or data[:2] != AIGIF_SIGNATURE:
        return data
    if data[2] & 1:
        return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "big")
    return data[:-2] + binascii.crc_hqx(data[:-2], 0xFFFF).to_bytes(2, "big")


def mutate_aigif(rng: random.Random, data: bytes, donors: list[bytes] = ()) -> bytes:
    out = mutate_bytes(rng, data, donors)
    return reseal_aigif(out) if rng.random() < 0.7 else out


# -- PNG --------------------------------------------------------------------------------
def png_chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """[(type, body)] of a well-formed PNG, or None."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    out, pos = [], len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            return None
        out.append((ctype, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_join(chunks) -> bytes:
    return PNG_SIGNATURE + b"".join(png_chunk(t, b) for t, b in chunks)


TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


def text_chunk(key: str, value: str, kind: bytes = b"tEXt") -> tuple[bytes, bytes]:
    k = key.encode("latin-1", "replace")
    if kind == b"tEXt":
        return kind, k + b"\0" + value.encode("latin-1", "replace")
    if kind == b"zTXt":
        return kind, k + b"\0\0" + zlib.compress(value.encode("latin-1", "replace"))
    return b"iTXt", k + b"\0\0\0\0\0" + value.encode("utf-8", "surrogatepass")


def _text_of(ctype: bytes, body: bytes) -> tuple[str, str] | None:
    try:
        key, _, rest = body.partition(b"\0")
        if ctype == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if ctype == b"zTXt":
            return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        compressed = rest[:1] == b"\x01"
        rest = rest[2:]
        _lang, _, rest = rest.partition(b"\0")
        _tkey, _, rest = rest.partition(b"\0")
        text = zlib.decompress(rest) if compressed else rest
        return key.decode("latin-1"), text.decode("utf-8")
    except (ValueError, zlib.error):
        return None


def mutate_png(rng: random.Random, data: bytes, donors: list[bytes] = ()) -> bytes:
    """Chunk-level mutations, re-sealed with correct CRCs; plain byte noise otherwise."""
    chunks = png_chunks(data)
    if not chunks or rng.random() < 0.25:
        return mutate_bytes(rng, data, donors)
    chunks = list(chunks)
    op = rng.randrange(8)
    texts = [i for i, (t, _) in enumerate(chunks) if t in TEXT_TYPES]
    if op <= 2 and texts:  # rewrite one text chunk's value with a text/JSON mutation
        i = rng.choice(texts)
        kv = _text_of(*chunks[i])
        if kv:
            key, value = kv
            kind = rng.choice((chunks[i][0], chunks[i][0], b"iTXt", b"zTXt"))
            chunks[i] = text_chunk(key, mutate_text(rng, value), kind)
    elif op == 3 and texts:  # many copies of one text chunk (each detector re-reads them)
        i = rng.choice(texts)
        for _ in range(rng.randrange(1, 64)):
            chunks.insert(i, chunks[i])
    elif op == 4 and len(chunks) > 2:  # drop or move a chunk
        i = rng.randrange(1, len(chunks) - 1)
        c = chunks.pop(i)
        if rng.random() < 0.5:
            chunks.insert(rng.randrange(1, len(chunks)), c)
    elif op == 5:  # hostile IHDR: huge dimensions, odd bit depths and colour types
        for i, (t, b) in enumerate(chunks):
            if t == b"IHDR" and len(b) >= 13:
                w, h = rng.choice(((1, 1), (0, 0), (1 << 31, 1), (16384, 16384), (5600, 5600), (65535, 1)))
                chunks[i] = (t, struct.pack(">II", w, h) + bytes([rng.choice((1, 8, 16)), rng.choice((0, 2, 3, 4, 6))]) + b[10:])
    elif op == 6:  # a text chunk the readers look for, with a mutated seed-like value
        key = rng.choice(("parameters", "prompt", "workflow", "Comment", "Dream", "sd-metadata",
                          "invokeai_metadata", "generation_data", "parameters-json", "smproj", "Software",
                          "XML:com.adobe.xmp", "fooocus_scheme", "Source", "Description"))
        chunks.insert(1, text_chunk(key, mutate_text(rng, rng.choice(SAMPLE_TEXTS)), rng.choice(TEXT_TYPES)))
    else:  # byte noise inside one chunk body, CRC re-sealed
        i = rng.randrange(len(chunks))
        t, b = chunks[i]
        chunks[i] = (t, mutate_bytes(rng, b, donors))
    out = png_join(chunks)
    return out[:MAX_BYTES]


# -- text and JSON ------------------------------------------------------------------------
SAMPLE_TEXTS = (
    "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: m",
    '{"prompt": "a cat", "seed": 1, "steps": 20}',
    '{"sui_image_params": {"prompt": "a", "seed": 1, "loras": ["x"], "loraweights": [1]}}',
    '"a cat" -s 20 -S 42 -W 512 -H 512 -C 7.5 -A k_lms',
    "<x:xmpmeta><exif:UserComment><rdf:Alt><rdf:li>{\"c\": \"a\"}</rdf:li></rdf:Alt></exif:UserComment></x:xmpmeta>",
)

TOKENS = (
    ":", ",", '"', "'", "\\", "[", "]", "{", "}", "<", ">", "(", ")", "\n", "\r\n", "\t", " ", "\0",
    "Negative prompt: ", "Steps: ", "Seed: ", "Size: ", "Hashes: [\"", "Hashes: {", "Lora hashes: \"",
    "<lora:", "<lora:a:b:c>", "Model hash: ", "Template: ", "a:b:c:d", "x:", "-s", "-S", "-A", "-W9999999",
    "</exif:UserComment>", "<exif:UserComment>", "<rdf:li>", "&amp;", "&#0;", "\ufeff", "\u2028", "\ud7ff",
    "ｓ", "🐱", "e", "1e999", "-1", "NaN", "Infinity", "18446744073709551616", "0x10",
)

HOSTILE_JSON_VALUES = (
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400, "-" + "9" * 330, "1.5e308",
    '"\\ud800"', '"\\udfff x"', '"\\u0000"', "[]", "{}", "null", "true", '""', "0", "-1", "18446744073709551616",
    "4294967296", "1e-400", '"' + " " * 5000 + '"', '"1e999"', '"NaN"',
)


def _run(rng: random.Random) -> str:
    unit = rng.choice((" ", ":", "a:b:c:d ", ", ", '"', "[", "{", '["', "\\", "-s ", "x" * 7, "\n", "<a>", "(("))
    return unit * rng.choice((16, 256, 2048, 8192, 20000))


def deep(rng: random.Random) -> str:
    n = rng.choice((100, 500, 1000, 3000, 20000))
    o, c = rng.choice((("[", "]"), ('{"a":', "}")))
    return o * n + "1" + (c * n if rng.random() < 0.8 else "")


def mutate_json_text(rng: random.Random, text: str) -> str | None:
    """Replace one value somewhere in a JSON document by a hostile one; None if not JSON."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    slots = []

    def walk(node, depth):
        if depth > 40 or len(slots) > 2000:
            return
        if isinstance(node, dict):
            for k in node:
                slots.append((node, k))
                walk(node[k], depth + 1)
        elif isinstance(node, list):
            for i in range(len(node)):
                slots.append((node, i))
                walk(node[i], depth + 1)

    walk(doc, 0)
    marker = "\x00FUZZ\x00"
    if slots:
        parent, key = rng.choice(slots)
        if isinstance(parent, dict) and rng.random() < 0.15:  # a new key beside the old ones
            key = rng.choice(("steps", "seed", "scale", "lora", "loraweights", "weight", "x" * 40, "strength"))
        parent[key] = marker
    elif isinstance(doc, dict):
        doc["x"] = marker
    else:
        return None
    value = deep(rng) if rng.random() < 0.2 else rng.choice(HOSTILE_JSON_VALUES)
    if rng.random() < 0.1:
        value = "[" + ",".join([value] * rng.randrange(1, 200)) + "]"
    out = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    return out.replace(json.dumps(marker), value, 1)


def mutate_text(rng: random.Random, text: str) -> str:
    """A text or JSON mutation of a metadata field value."""
    r = rng.random()
    if r < 0.4:
        j = mutate_json_text(rng, text)
        if j is not None:
            return j[:MAX_TEXT * 4]
    s = text
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.randrange(8)
        n = len(s)
        pos = rng.randrange(n + 1)
        if op <= 1:
            s = s[:pos] + rng.choice(TOKENS) + s[pos:]
        elif op == 2:
            s = s[:pos] + _run(rng) + s[pos:]
        elif op == 3 and n:
            s = s[:pos] + s[pos + rng.randrange(1, 32):]
        elif op == 4 and n:
            s = s[:pos]  # truncation: unterminated quotes, brackets, elements
        elif op == 5 and n:
            j = min(n, pos + rng.randrange(1, 200))
            s = s[:j] + s[pos:j] * rng.randrange(2, 50) + s[j:]
        elif op == 6:
            s = s[:pos] + deep(rng) + s[pos:]
        elif n:
            c = s[rng.randrange(n)]
            s = s.replace(c, rng.choice(TOKENS), rng.randrange(1, 4))
    return s[:MAX_TEXT]
