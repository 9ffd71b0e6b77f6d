"""The labs as a Binder reader runs them: a user without root, Binder's Python, the pins.

Builds the environment of tests/binder.py (a new user, the Python of runtime.txt, a venv
with requirements.txt from PyPI, a copy of the repository), then executes every lab with
nbval as that user: the reality lab live, starting nginx, Redis and PostgreSQL itself.
Needs root to create the user; without it the tests skip locally and fail under CI.
"""

import json
from pathlib import Path

import pytest

import binder
from labsupport import reality

pytestmark = pytest.mark.binder
LABS = sorted(binder.all_labs(), key=lambda lab: lab == "reality")  # it runs beside the others


def test_the_user_cannot_become_root_and_has_runtime_txts_python(binder_user):
    done = binder_user.run(["python", "-c", "import os, sys; print(os.geteuid(), "
                            "'%d.%d' % sys.version_info[:2], sys.prefix)"], check=True)
    uid, version, prefix = done.stdout.split()
    assert int(uid) != 0 and version == binder.python_version()
    assert prefix == str(binder_user.venv)
    assert binder_user.run(["sh", "-c", "sudo -n true"]).returncode != 0


@pytest.mark.parametrize("lab", LABS)
def test_the_lab_runs_as_a_binder_user(lab, binder_lab_names, binder_labs):
    if lab not in binder_lab_names:
        pytest.skip("run in JupyterLab, as the same user, by test_jupyterlab.py")
    run = binder_labs[lab]
    assert run.returncode == 0, run.stdout[-4000:]


def test_the_reality_lab_measured_live_as_that_user(binder_labs):
    saved = json.loads(Path(binder_labs.reality()).read_text())
    assert set(saved["results"]) == set(reality.STEPS)
    assert saved["results"]["calibration"]["pairs"] > 0


def test_the_labs_leave_no_process_and_no_temporary_file(binder_lab_names, binder_labs,
                                                         binder_user):
    for lab in binder_lab_names:
        binder_labs[lab]
    processes, files = binder_user.leftovers()
    assert processes == [] and files == []
