import os
from pathlib import Path

import pytest

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
