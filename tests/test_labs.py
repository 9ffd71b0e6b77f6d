"""The labs as stored: the house rules nbval relies on, checked without running them."""

from pathlib import Path

import nbformat
import pytest

LABS = sorted((Path(__file__).resolve().parents[1] / "labs").glob("*.ipynb"))


def check_cells(lab):
    return [cell for cell in lab.cells
            if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in cell.source]


@pytest.mark.parametrize("path", LABS, ids=lambda path: path.stem)
def test_lab_is_stored_without_outputs_and_with_a_result_to_check(path):
    lab = nbformat.read(path, as_version=4)
    code = [cell for cell in lab.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    checks = check_cells(lab)
    assert checks, "a lab needs a seeded # NBVAL_CHECK_OUTPUT cell"
    # conftest.py hands this to nbval; scripts/expected-outputs.py records it
    for cell in checks:
        assert cell.metadata.get("expected_output", "").strip(), cell.source
