"""Random mutations and truncations of valid files only ever raise AIGIF's own errors,
each quickly and without large allocations."""

import random
import resource
import time
from pathlib import Path

import aigif
from aigif.errors import AigifError

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"


def _seeds():
    return [p.read_bytes() for p in sorted(VECTORS.glob("v*.aigif")) if p.stat().st_size < 2000]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0 and b:
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == 1 and b:
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 2:
        del b[rng.randrange(len(b) + 1) :]
    elif op == 3:
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    elif op == 4 and len(b) > 4:
        i = rng.randrange(3, len(b))
        del b[i : i + rng.randrange(1, 6)]
    else:
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    return bytes(b)


def _fix_crc(data: bytes) -> bytes:
    """Re-seal a mutated file so that mutations reach the segment parsers, not just the CRC."""
    import binascii
    import zlib

    if len(data) < 6 or data[:2] != b"\xa1G":
        return data
    if data[2] & 1:
        return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "big")
    return data[:-2] + binascii.crc_hqx(data[:-2], 0xFFFF).to_bytes(2, "big")


def test_mutations_raise_only_aigif_errors_quickly():
    rng = random.Random(20261125)
    seeds = _seeds()
    assert seeds
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worst = 0.0
    outcomes = {"ok": 0, "error": 0}
    for i in range(6000):
        data = _mutate(rng, rng.choice(seeds))
        if i % 2:
            data = _fix_crc(data)
        t = time.perf_counter()
        try:
            aigif.decode(data)
            outcomes["ok"] += 1
        except AigifError:
            outcomes["error"] += 1
        worst = max(worst, time.perf_counter() - t)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) / 1024
    assert outcomes["error"] > 1000  # the fuzzer really did reach error paths
    # a hang detector, not a benchmark: one decode of a <2 KB file must never take seconds
    assert worst < 5.0, f"slowest decode took {worst:.2f} s"
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


def test_every_truncation_is_an_aigif_error():
    for data in _seeds():
        for n in range(len(data)):
            try:
                aigif.decode(data[:n])
            except AigifError:
                continue
            raise AssertionError(f"truncation to {n} bytes decoded")
