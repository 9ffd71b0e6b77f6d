"""What every test session shares: the reality check's one live measurement.

Tiers (markers, declared in pyproject.toml): `live` measures real nginx, Redis and
PostgreSQL; `browser` drives Chromium over the built site or JupyterLab.
"""

import os

import pytest

from labsupport import reality


def fail_or_skip(why):
    """Skip with `why` locally; fail under CI, where every tier must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must run this)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def require_reality():
    """Skip (locally) or fail (under CI) when nginx, Redis or PostgreSQL is missing."""
    lacking = reality.missing()
    if lacking:
        fail_or_skip(f"the reality check needs {', '.join(lacking)}: run `make reality`")


@pytest.fixture(scope="session")
def reality_measurement(require_reality, tmp_path_factory):
    """Every step of the reality check, measured live once for the whole session: saved,
    and shown by the labs this session executes afterwards (ZTM_REALITY=stored)."""
    saved = tmp_path_factory.mktemp("reality") / "measured.json"
    session = reality.Session(saved, live=True)
    results = {step: session.run(step) for step in reality.STEPS}
    session.save(saved)
    os.environ["ZTM_REALITY"], os.environ["ZTM_REALITY_FILE"] = "stored", str(saved)
    return results
