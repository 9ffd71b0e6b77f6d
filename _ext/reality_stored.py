"""Sphinx extension: the book shows the reality check's stored results.

The reality lab measures real nginx, Redis and PostgreSQL for about two minutes.
The tests measure them live (tests/test_reality.py, and the Binder-like run); the book
shows the stored results of the last live run (`make reality` writes them, with the
machine and the date, into labs/reality-results.json), so that a build never waits on
real software or depends on it. `ZTM_REALITY=live jupyter-book build ...` measures during
the build instead.
"""

import os


def stored_unless_asked(app, config):
    os.environ.setdefault("ZTM_REALITY", "stored")  # the lab's kernels inherit it


def setup(app):
    app.connect("config-inited", stored_unless_asked)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
