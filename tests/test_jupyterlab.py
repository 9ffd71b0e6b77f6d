"""What a Binder reader does: open a lab in JupyterLab, run it, move a knob.

Starts JupyterLab on 127.0.0.1 with a token, over a copy of the labs (JupyterLab
autosaves, and the labs are stored without outputs), opens the single-server lab in
Chromium, runs all cells, and checks that the charts are drawn with no request
leaving the machine, that the check cells print what nbval expects, that the control
panel appears, and that moving its first slider re-runs the simulation and redraws the
chart. When the session has the Binder-like user (tests/binder.py), JupyterLab runs as
that user, from its venv on Binder's Python, and this is that lab's run in the session.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import binder
from browser import ROOT, keep_offline, launch

pytestmark = pytest.mark.browser
LAB = f"{binder.JUPYTERLAB_LAB}.ipynb"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings(folder):
    """JupyterLab settings that render every cell, not only those in view (so the test
    can reach the panel)."""
    tracker = folder / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return folder / "settings"


@pytest.fixture
def jupyterlab(request, tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    arguments = ["--no-browser", "--ip=127.0.0.1", f"--port={port}",
                 f"--IdentityProvider.token={token}"]
    if binder.JUPYTERLAB_LAB not in request.getfixturevalue("binder_lab_names"):
        # the Binder-like run leaves this lab to JupyterLab: run JupyterLab as its user
        user = request.getfixturevalue("binder_user")
        folder = user.home / "jupyterlab"
        env = {"JUPYTERLAB_SETTINGS_DIR": str(settings(folder))}
        subprocess.run(["chown", "-R", f"{binder.NAME}:{binder.NAME}", str(folder)], check=True)
        server = user.popen([str(user.venv / "bin" / "jupyter-lab"), *arguments,
                             f"--ServerApp.root_dir={user.repo / 'labs'}",
                             f"--LabApp.workspaces_dir={folder / 'workspaces'}"], env=env)
    else:
        shutil.copytree(ROOT / "labs", tmp_path / "labs")
        env = {k: v for k, v in os.environ.items() if k != "ZTM_STATIC_SITE"}
        env["JUPYTERLAB_SETTINGS_DIR"] = str(settings(tmp_path))
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter-lab"), *arguments, "--allow-root",
             f"--ServerApp.root_dir={tmp_path / 'labs'}",
             f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        server.wait(timeout=30)


def expected_checks():
    """What the lab's # NBVAL_CHECK_OUTPUT cells should print, in order."""
    lab = nbformat.read(ROOT / "labs" / LAB, as_version=4)
    return [cell.metadata["expected_output"].strip() for cell in lab.cells
            if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in cell.source]


def chart_content(page, selector):
    return page.eval_on_selector(selector, """area => Array.from(
        area.querySelectorAll('.jp-RenderedVegaLite canvas, .jp-RenderedVegaLite svg'))
        .map(e => e.tagName === 'CANVAS' ? e.toDataURL() : e.outerHTML).join('|')""")


def dismiss_dialogs(page, seen):
    """Close any JupyterLab dialog in the way, noting what it said. On a loaded machine a
    request of JupyterLab's own can time out and open one (a CI run once failed so: a dialog
    lay over the notebook and swallowed every click); it is not the lab's doing."""
    for dialog in page.query_selector_all("dialog.jp-Dialog"):
        seen.append(" ".join(dialog.inner_text().split())[:200])
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)


def test_a_lab_runs_in_jupyterlab_and_its_control_panel_redraws(jupyterlab):
    playwright_api = pytest.importorskip("playwright.sync_api")
    base, token = jupyterlab
    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside = keep_offline(page, base)
        page.goto(f"{base}/lab/tree/{LAB}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # Wait for the kernel to be ready, or "Run All" can be lost while it starts.
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        dialogs = []
        for _ in range(3):  # a Run All sent while the kernel connects can be lost: resend
            dismiss_dialogs(page, dialogs)
            page.click(".jp-Notebook")
            page.click("li.lm-MenuBar-item:has-text('Run')")
            page.click("li.lm-Menu-item:has-text('Run All Cells')")
            try:
                page.wait_for_function(
                    """() => Array.from(document.querySelectorAll(
                        '.jp-CodeCell .jp-InputArea-prompt')).some(
                        p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""", timeout=20_000)
                break
            except playwright_api.TimeoutError:
                continue
        try:
            page.wait_for_function(
                """() => { const prompts = Array.from(document.querySelectorAll(
                    '.jp-CodeCell .jp-InputArea-prompt')).map(p => p.textContent);
                  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p)); }""",
                timeout=120_000)
        except playwright_api.TimeoutError:
            shots = ROOT / "_build" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "jupyterlab-failure.png"))
            errors = page.eval_on_selector_all(
                "[data-mime-type='application/vnd.jupyter.stderr']", "es => es.map(e => e.textContent)")
            pytest.fail(f"the lab did not finish running in JupyterLab; stderr: {errors[:3]}; "
                        f"dialogs closed on the way: {dialogs}")
        checks = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-CodeCell'))
            .filter(c => c.querySelector('.jp-InputArea').innerText
                         .includes('NBVAL_CHECK_OUTPUT'))
            .map(c => c.querySelector('.jp-OutputArea').innerText.trim())""")
        drawn = page.eval_on_selector_all(
            ".jp-RenderedVegaLite", "charts => charts.filter(c => c.querySelector('svg, canvas')).length")
        panel = ".jp-Cell:has(.widget-slider) .jp-OutputArea"
        page.wait_for_selector(f"{panel} .jp-RenderedVegaLite canvas, "
                               f"{panel} .jp-RenderedVegaLite svg", timeout=30_000)
        before = chart_content(page, panel)
        dismiss_dialogs(page, dialogs)
        handle = page.query_selector(f"{panel} .widget-slider .noUi-handle")
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.widget-html-content'))
                .some(e => e.textContent.includes('re-ran in'))""", timeout=30_000)
        page.wait_for_timeout(1000)
        after = chart_content(page, panel)
        browser.close()
    assert checks == expected_checks()  # what nbval would compare
    assert drawn >= 5  # every chart of the lab, from JupyterLab's own Vega
    assert after != before
    assert outside == []
