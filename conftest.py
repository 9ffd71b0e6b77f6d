"""What every test session shares: the labs' checked outputs, and the reality check's one
live measurement.

Tiers (markers, declared in pyproject.toml): `live` measures real nginx, Redis and
PostgreSQL; `browser` drives Chromium over the built site or JupyterLab.
"""

import os

import nbformat
import pytest

from labsupport import reality


def expect_outputs(items):
    """Give nbval a result to compare: a `# NBVAL_CHECK_OUTPUT` cell's expected text is kept
    in its metadata ("expected_output"), since labs are stored without outputs, and nbval
    compares only cells that have them. (tests/test_labs.py checks every such cell has one.)"""
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or not item.options.get("check") or "expected_output" not in cell.metadata:
            continue
        cell.execution_count = cell.execution_count or 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                               text=cell.metadata["expected_output"])]


def pytest_configure(config):
    """nbval stops each lab's kernel with SIGKILL to its whole process group. That kills
    multiprocessing's resource tracker too, the process that would remove the named
    semaphores of labsupport's pool of simulation workers, so every run left five in
    /dev/shm. JupyterLab, Binder and the book's build shut kernels down politely (a request,
    then SIGTERM, which the tracker outlives to clean up); ask nbval to do the same, with a
    one-second wait instead of five."""
    from nbval.kernel import RunningKernel

    def stop(kernel):
        kernel.kc.stop_channels()
        kernel.km.shutdown_wait_time = 1.0
        kernel.km.shutdown_kernel(now=False)
        del kernel.km

    RunningKernel.stop = stop


def pytest_collection_modifyitems(config, items):
    expect_outputs(items)


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
