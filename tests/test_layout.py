"""The package's layers (the design note in the simulation appendix): each folder of
labsupport imports only from the folders above it, so the layers stay visible as it grows."""

import ast
from pathlib import Path

import labsupport

PACKAGE = Path(labsupport.__file__).parent
# folder -> the folders its modules may import from (besides their own)
ALLOWED = {"core": set(), "components": {"core"}, "theory": {"core"}, "page": {"core"},
           "reality": {"core", "components", "theory", "page"}}


def layer_imports(path, package=PACKAGE):
    """The labsupport folders a module imports from, found in its syntax tree."""
    folder = path.relative_to(package).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:  # relative: from ..core import x
            parts = [folder] if node.level == 1 else []
            parts += (node.module or "").split(".") if node.module else []
            found.add(parts[0] if parts else None)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labsupport."):
            found.add(node.module.split(".")[1])
    return found - {folder, None}


def test_every_module_sits_in_a_layer_folder():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} \
        == set(ALLOWED)


def test_each_layer_imports_only_from_the_layers_above_it():
    wrong = {}
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE:
            continue
        folder = path.relative_to(PACKAGE).parts[0]
        extra = layer_imports(path) - ALLOWED[folder]
        if extra:
            wrong[str(path.relative_to(PACKAGE))] = sorted(extra)
    assert wrong == {}


def test_the_layer_check_sees_a_wrong_import(tmp_path):
    # The check itself must be able to fail: a core module importing a component.
    bad = tmp_path / "core" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from ..components.server import Server\nfrom . import checks\n"
                   "from labsupport.page.charts import lines\n")
    assert layer_imports(bad, tmp_path) == {"components", "page"}
