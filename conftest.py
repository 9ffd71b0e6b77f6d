"""What every test session shares: the labs' checked outputs, the Binder-like run, and the
reality check's one live measurement.

Tiers (markers, declared in pyproject.toml): `live` measures real nginx, Redis and
PostgreSQL; `browser` drives Chromium over the built site or JupyterLab; `binder` runs the
labs as a new user without root on Binder's Python (root only; CI runs it). The quick loop
while writing a chapter leaves them out: `pytest -m "not live and not browser and not
binder" tests labs/cache.ipynb`.

Each lab runs once per session. When the Binder-like run is part of the session (under CI),
it executes every lab as its user, and the direct runs of `labs/*.ipynb` are deselected;
otherwise nbval runs them here. Its environment is built in the background from the start,
and what needs it runs last. Real software is measured once per session too: by the
reality lab in the Binder-like run, or else by `reality_measurement` here, whose result the
reality lab then shows if this session executes it later.
"""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from labsupport import reality
from tests import binder

ROOT = Path(__file__).resolve().parent
BINDER_LABS = pytest.StashKey[list]()  # the labs this session runs as the Binder user
BINDER_BUILD = pytest.StashKey[object]()  # the Binder-like environment, being built


def is_lab(item):
    return item.path.suffix == ".ipynb" and item.path.parent == ROOT / "labs"


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


@pytest.hookimpl(trylast=True)  # after -m and -k have chosen the items
def pytest_collection_modifyitems(config, items):
    expect_outputs(items)
    if not any(item.get_closest_marker("binder") for item in items) or binder.why_not():
        return
    labs = binder.all_labs()
    if any(item.path.name == "test_jupyterlab.py" for item in items):
        labs.remove(binder.JUPYTERLAB_LAB)  # JupyterLab runs it, as the same user
    config.stash[BINDER_LABS] = labs
    here = [item for item in items if is_lab(item)]
    if here:
        config.hook.pytest_deselected(items=here)
        items[:] = [item for item in items if not is_lab(item)]
    # What needs the Binder-like environment goes last, and the environment is built in the
    # background meanwhile: installing a fresh venv takes about a minute, which the unit
    # and site tests fill.
    last = [item for item in items if needs_binder(item)]
    items[:] = [item for item in items if not needs_binder(item)] + last
    if not config.option.collectonly:
        config.stash[BINDER_BUILD] = ThreadPoolExecutor(1).submit(binder.BinderUser().__enter__)


def needs_binder(item):
    """Whether `item` uses the Binder-like run (in a session that has it): its own tests,
    JupyterLab (run as its user) and the live tests (which check its reality lab)."""
    return bool(item.get_closest_marker("binder") or item.get_closest_marker("live")
                or item.path.name == "test_jupyterlab.py")


def pytest_sessionfinish(session):
    """Remove the Binder-like user, its home and copies, however the session ended."""
    build = session.config.stash.get(BINDER_BUILD, None)
    if build is not None and build.exception() is None:
        build.result().close()


def pytest_report_header(config):
    labs = config.stash.get(BINDER_LABS, None)
    if labs is not None:
        return f"labs: run as the Binder-like user by tests/test_binder.py ({', '.join(labs)})"


def fail_or_skip(why):
    """Skip with `why` locally; fail under CI, where every tier must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must run this)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def binder_user(request):
    """The Binder-like user with its Python, venv and copy of the repository (tests/binder.py):
    built in the background since collection, or now if this session did not plan it."""
    why = binder.why_not()
    if why:
        fail_or_skip(f"no Binder-like run: {why}")
    build = request.config.stash.get(BINDER_BUILD, None)
    if build is not None:
        yield build.result()  # removed by pytest_sessionfinish
        return
    with binder.BinderUser() as user:
        yield user


@pytest.fixture(scope="session")
def binder_lab_names(request):
    """The labs the Binder-like user runs with nbval in this session (JupyterLab may run one)."""
    return request.config.stash.get(BINDER_LABS, None) or binder.all_labs()


@pytest.fixture(scope="session")
def binder_labs(binder_user):
    """Each lab executed by nbval as the Binder-like user, once, when first asked for."""
    return binder.LabRuns(binder_user)


@pytest.fixture(scope="session")
def require_reality():
    """Skip (locally) or fail (under CI) when nginx, Redis or PostgreSQL is missing."""
    lacking = reality.missing()
    if lacking:
        fail_or_skip(f"the reality check needs {', '.join(lacking)}: run `make reality`")


@pytest.fixture(scope="session")
def reality_measurement(request, require_reality, tmp_path_factory):
    """Every step of the reality check, measured live once for the whole session.

    In the Binder-like run, what its reality lab measured; else measured here, saved, and
    shown by the labs this session executes afterwards (ZTM_REALITY=stored)."""
    saved = tmp_path_factory.mktemp("reality") / "measured.json"  # kept for a look afterwards
    if request.config.stash.get(BINDER_LABS, None) is not None:
        shutil.copy(request.getfixturevalue("binder_labs").reality(), saved)
        session = reality.Session(saved, live=False)
        return {step: session.run(step) for step in reality.STEPS}
    session = reality.Session(saved, live=True)
    results = {step: session.run(step) for step in reality.STEPS}
    session.save(saved)
    os.environ["ZTM_REALITY"], os.environ["ZTM_REALITY_FILE"] = "stored", str(saved)
    return results
