"""Delta debugging (Zeller's ddmin, the complement-only variant) over bytes or text."""

from __future__ import annotations

import time


def ddmin(data, test, deadline: float, max_tests: int = 3000):
    """The smallest piece of `data` (bytes or str) found for which test(piece) is still
    true, within the deadline (time.monotonic()) and max_tests runs of `test`."""
    n = 2
    tests = 0
    while len(data) >= 2:
        chunk = max(1, len(data) // n)
        reduced = False
        start = 0
        while start < len(data):
            if time.monotonic() > deadline or tests >= max_tests:
                return data
            trial = data[:start] + data[start + chunk:]
            tests += 1
            if trial and test(trial):
                data = trial  # keep going from the same place: the next chunk slid into it
                reduced = True
            else:
                start += chunk
        if reduced:
            n = max(n - 1, 2)
        else:
            if chunk == 1:
                break
            n = min(len(data), n * 2)
    return data
