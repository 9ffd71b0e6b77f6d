"""Record, or check, what each lab's `# NBVAL_CHECK_OUTPUT` cells print.

Labs are stored without outputs, so the text nbval compares a check cell's output with
lives in the cell's metadata, "expected_output" (conftest.py hands it to nbval). After
changing a lab or labsupport on purpose, record it again and read the diff before
committing: a changed number there is a changed result in the book.

    .venv/bin/python scripts/expected-outputs.py labs/cache.ipynb          # record
    .venv/bin/python scripts/expected-outputs.py --check labs/*.ipynb      # compare only

The reality lab runs from its stored results here (its check cells use only the model).
"""

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def printed(cell):
    """What a cell wrote to standard output."""
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    arguments = parser.parse_args()
    os.environ.setdefault("ZTM_REALITY", "stored")
    differ = False
    for lab in arguments.labs:
        stored = nbformat.read(lab, as_version=4)
        executed = nbformat.read(lab, as_version=4)
        NotebookClient(executed, timeout=600,
                       resources={"metadata": {"path": str(lab.parent)}}).execute()
        for kept, ran in zip(stored.cells, executed.cells):
            if kept.cell_type != "code" or "# NBVAL_CHECK_OUTPUT" not in kept.source:
                continue
            old, new = kept.metadata.get("expected_output"), printed(ran)
            if old != new:
                differ = True
                print(f"{lab} cell {kept.get('id')}:\n  was: {old!r}\n  now: {new!r}")
            kept.metadata["expected_output"] = new
        if not arguments.check:
            lab.write_text(nbformat.writes(stored) + "\n")
    sys.exit(1 if differ and arguments.check else 0)


if __name__ == "__main__":
    main()
