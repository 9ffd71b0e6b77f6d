"""How long each lab takes: its full execution, and one re-run of each control panel.

Picture a reader moving a slider: the answer should come back in well under a second
(target 0.3 s at the default setting). And the build executes every lab, so each should
run top to bottom in seconds.

For each notebook in labs/, this script executes it in a fresh kernel (timing the whole
run, kernel start included), then, in the same kernel, calls the drawing function of every
control panel the lab made at its default setting, five times (simulation and chart spec,
as displaying it needs), and reports the median.
It measures; it asserts nothing. Run it with `.venv/bin/python benchmarks/labs.py`.
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 5

TIMING_CELL = f"""
import json, time
from labsupport.page.widgets import panels_shown
panels = panels_shown(Out)
timings = []
for draw, knobs in panels:
    defaults = {{knob.name: knob.default for knob in knobs}}
    runs = []
    for _ in range({REPEATS}):
        started = time.perf_counter()
        chart = draw(**defaults)
        chart.to_dict()  # what displaying it costs: the spec, with its data, as JSON
        runs.append(time.perf_counter() - started)
    timings.append(sorted(runs)[len(runs) // 2])
print(json.dumps(timings))
"""


def measure(path, environment=None):
    """(seconds to execute the lab, [median re-run of each control panel]); `environment`:
    variables for the lab's kernel, such as ZTM_REALITY=stored."""
    saved = dict(os.environ)
    os.environ.update(environment or {})  # the kernel starts with this process's environment
    try:
        return _measure(path)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _measure(path):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(TIMING_CELL))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute()
    total = time.perf_counter() - started
    output = notebook.cells[-1].outputs[0]["text"]
    return total, json.loads(output)


def main():
    print(f"Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print(f"| lab | full execution (s) | control-panel re-run, median of {REPEATS} (s) |")
    print("| --- | --- | --- |")
    for path in sorted((ROOT / "labs").glob("*.ipynb")):
        total, reruns = measure(path)
        panels = ", ".join(f"{seconds:.3f}" for seconds in reruns) or "no panel"
        print(f"| {path.stem} | {total:.1f} | {panels} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
