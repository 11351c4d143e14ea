"""Every reproducer of issue 9 (fuzz/regressions.py) replayed through the fuzz worker
under the limits the issue sets: 2 s of CPU and 400 MB of peak memory per input.  Each
must give a clean AigifError or a result (or, where the case says so, a result), and
pass its own check (a field kept, an exit status, a refusal that says how to allow)."""

from __future__ import annotations

import pytest

from fuzz.regressions import by_name
from fuzz.worker import Limits, Worker

LIMITS = Limits(cpu_s=2.0, mem_mb=400)
CASES = by_name()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    config = tmp_path_factory.mktemp("fuzz-regressions-config")
    with Worker(LIMITS, env={"AIGIF_CONFIG_DIR": str(config)}) as w:
        yield w


@pytest.mark.parametrize("name", sorted(CASES))
def test_issue9_reproducer(worker, tmp_path, name):
    case = CASES[name]
    data = case.build(tmp_path)
    r = worker.run(case.target, data)
    finding = r.finding(LIMITS)
    assert finding is None, (
        f"issue {case.issue_item} {name} ({case.what}): {finding}: {r.type} {r.message} at {r.where}"
        f" [{r.cpu_s:.2f} s CPU, {r.rss_mb:.0f} MB]\n{r.tb}")
    if case.expect == "result":
        assert r.status == "ok", f"issue {case.issue_item} {name} ({case.what}): refused with {r.message}"
    if case.check is not None:
        problem = case.check(r, tmp_path)
        assert problem is None, f"issue {case.issue_item} {name} ({case.what}): {problem}"


def test_every_issue9_item_has_a_case():
    items = {i for c in CASES.values() for i in c.issue_item.split("/")}
    assert {f"9.{n}" for n in range(1, 12)} <= items
