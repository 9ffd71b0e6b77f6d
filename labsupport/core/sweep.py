"""Sweeps: the same experiment at many settings, one row per run.

Picture a capacity test run overnight: the same system at 10 %, 20 % ... 95 %
load, each result written on one line of a spreadsheet. `sweep(runs)` takes a
list of (system, workload) pairs, simulates each, and returns a DataFrame with
one row per run: any labels you gave, the parameters (`system.*`, `workload.*`)
and the summary, side by side.
The kernel-free figures of the static site are drawn from such tables.

Runs go through a standard `concurrent.futures` executor: by default a pool of
worker processes, one per core, started once and reused by every later sweep
in the same Python session. Pass `executor=` to use your own (a thread pool, or
a distributed executor on a cluster); `executor=False` runs in this process.
"""

import functools
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from . import checks
from .simulate import simulate

@functools.cache
def shared_pool():
    """The process pool reused by every sweep in this session (one worker per core), made
    on first use."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["labsupport.core.simulate"])
    return ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=context,
                               initializer=_ignore_interrupts)


def _ignore_interrupts():
    """Workers leave Ctrl-C (and a kernel's interrupt) to the process that owns them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _row(run, keep=None):
    system, workload, *labels = run
    result = simulate(system, workload)
    return {**(labels[0] if labels else {}), **result.row(), **(keep(result) if keep else {})}


def sweep(runs, executor=None, keep=None):
    """Simulate every (system, workload) pair; one row per run, in the order given.

    A run may carry a third item, a dict of labels (such as {"design": "scale up"}),
    which become columns of its row. keep: a function of a run's `Result` returning a
    dict of more columns, worked out where the run ran (so a worker process sends back a
    small table, not every request); defined in a module, not in a notebook, so that worker
    processes can find it."""
    runs = list(checks.sequence("runs", runs))
    for run in runs:
        if not isinstance(run, tuple) or len(run) not in (2, 3) or (
                len(run) == 3 and not isinstance(run[2], dict)):
            raise ValueError(f"runs must be (system, workload) or (system, workload, labels) "
                             f"tuples, got {checks.shown(run)}")
    if executor not in (None, False) and not callable(getattr(executor, "map", None)):
        raise ValueError(f"executor must be None, False or an executor with map(), "
                         f"got {executor!r}")
    if keep is not None and not callable(keep):
        raise ValueError(f"keep must be a function of a Result, got {checks.shown(keep)}")
    row = functools.partial(_row, keep=keep)
    if executor is False or len(runs) == 1:
        rows = [row(run) for run in runs]
    else:
        rows = list((executor or shared_pool()).map(row, runs))
    return pd.DataFrame(rows)
