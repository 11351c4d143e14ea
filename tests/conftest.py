import os
from pathlib import Path

# Before anything imports torch: the suite runs under portable CPU numerics, the profile
# the golden numbers in tests/goldens/ were made under, so that they check the code bit
# for bit on any x86-64 machine (aigif/diffusion/portable.py says what it pins and why).
from aigif.diffusion import portable

try:
    portable.load_torch()
except ImportError:  # a core-only install: nothing numeric to pin
    pass

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default "ci", what `make test` runs).
# "ci": the same examples on every run and every machine (derandomize: the seed comes from
#   each test's own code), no example database carried between runs, no timing-dependent
#   verdicts (deadline, too_slow), and a failure prints the blob that reproduces it.
# "explore": fresh random examples each run, kept in .hypothesis/ so that a failure found
#   once is tried first next time, and more of them; for local runs and `make fuzz`.
#   A test whose @settings pins max_examples keeps its own count in both profiles.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", derandomize=False, max_examples=1000, deadline=None, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(HYPOTHESIS_PROFILE)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_user_registry(tmp_path_factory, monkeypatch):
    """Tests never read or write the real user's registry."""
    monkeypatch.setenv("AIGIF_CONFIG_DIR", str(tmp_path_factory.mktemp("aigif-config")))
    # nor the plugins of whatever packages this machine has: opt-in per test only
    import aigif.registry

    monkeypatch.delenv(aigif.registry.PLUGINS_ENV, raising=False)
    monkeypatch.setattr(aigif.registry, "_plugins_opted_in", False)
    from aigif.registry import reset_registry

    reset_registry()
    yield
    reset_registry()


def shared(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set AIGIF_SHARED_DATA)")
    return path
