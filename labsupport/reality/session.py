"""Live or stored: run the reality check's steps, or show the stored results of a live run.

`Session` runs each step (`STEPS`) live when the software is installed, or reads what a
live run stored (`labs/reality-results.json`) when it is not or when asked to; `measure`
runs steps live and saves them, keeping the other steps' stored results.
"""

import argparse
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd

from ..core import checks
from .experiments import calibrate, failover, latency_at_loads
from .nginx import nginx_binary
from .edge_cache import edge_hit_ratios
from .redis_cache import hit_ratios
from .lag import postgres_bin, postgres_lag, redis_lag
from .model import Calibration
from .sticky import session_loss


def missing():
    """What the live run needs and this machine lacks (empty: everything is here)."""
    lacking = [] if Path(nginx_binary()).exists() else ["nginx"]
    if not shutil.which("redis-server"):
        lacking.append("redis-server")
    if postgres_bin() is None:
        lacking.append("postgresql")
    lacking += [f"python package {name}" for name in ("redis", "psycopg")
                if importlib.util.find_spec(name) is None]
    return lacking


def machine():
    """Facts about this machine and the software versions, stored beside the results."""
    def version(command):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"
    return {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()} {platform.machine()}",
            "cpus": os.cpu_count(), "nginx": version([nginx_binary(), "-v"]),
            "redis": version(["redis-server", "--version"]),
            "postgresql": version([str(postgres_bin() or "postgres") + "/postgres", "-V"])}


STEPS = ("calibration", "latency", "failover", "replication", "cache", "edge", "sessions")


class Session:
    """Runs the steps live when everything is installed, else reads stored results.

    stored: the JSON file of a live run (what `save` writes). live: True or False to
    choose; by default live unless something is missing. Two environment variables let a
    build or a test choose without editing the lab: ZTM_REALITY ("live" or "stored") sets
    the mode, and ZTM_REALITY_FILE names another file: stored results are read from it,
    and a live session writes there after every step (so a test can check what the lab
    measured, and a book build can show it)."""

    def __init__(self, stored, live=None):
        mode = os.environ.get("ZTM_REALITY", "")
        checks.one_of("ZTM_REALITY", mode, ("", "live", "stored"))
        chosen = os.environ.get("ZTM_REALITY_FILE")
        self.stored_path = Path(chosen or stored)
        self.missing = missing()
        if live is None:
            live = mode == "live" or (mode == "" and not self.missing)
        self.live = live
        self.save_to = Path(chosen) if live and chosen else None
        self.results = {}
        if self.live:
            self.machine = machine()
        else:
            saved = json.loads(self.stored_path.read_text())
            self.machine, self.saved = saved["machine"], saved["results"]

    def run(self, step):
        """Step `step` (one of STEPS): a dict or a table, measured now or stored."""
        checks.one_of("step", step, STEPS)
        if not self.live:
            value = self.saved[step]
            result = (pd.DataFrame(**value["table"]) if "table" in value
                      else Calibration(**value) if step == "calibration" else value)
        elif step == "calibration":
            result = calibrate()
        elif step == "latency":
            result = latency_at_loads(self.results["calibration"])
        elif step == "failover":
            result = failover(self.results["calibration"])
        elif step == "replication":
            result = pd.DataFrame([redis_lag(), postgres_lag()])
        elif step == "cache":
            result = hit_ratios()
        elif step == "edge":
            result = edge_hit_ratios()
        else:
            result = session_loss()
        self.results[step] = result
        if self.save_to:
            self.save(self.save_to)
        return result

    def about(self):
        """One paragraph: where these numbers come from and how to measure them yourself."""
        where = (f"{self.machine['system']}, {self.machine['cpus']} CPUs, "
                 f"{self.machine['nginx']}, {self.machine['redis'].split(' sha=')[0]}, "
                 f"{self.machine['postgresql']}, on {self.machine['date']}")
        if self.live:
            return f"Measured live, just now, on this machine: {where}."
        why = (f"this machine lacks {', '.join(self.missing)}" if self.missing
               else "this copy was asked to show stored results (ZTM_REALITY=stored, as the "
                    "book's build does)")
        return (f"Stored results of a live run ({where}); {why}. To measure on your own "
                "machine: `make reality` (installs nginx, Redis and PostgreSQL where it can), "
                "then run this notebook.")

    def save(self, path=None):
        """Write the results and the machine facts as JSON (what the stored mode reads)."""
        results = {step: ({"table": self.results[step].to_dict("split")}
                          if isinstance(self.results[step], pd.DataFrame)
                          else dataclasses.asdict(self.results[step])
                          if dataclasses.is_dataclass(self.results[step])
                          else self.results[step]) for step in STEPS if step in self.results}
        for value in results.values():
            value.get("table", {}).pop("index", None)
        Path(path or self.stored_path).write_text(
            json.dumps({"machine": self.machine, "results": results}, indent=1) + "\n")


def measure(path, steps=STEPS):
    """Measure `steps` live and save them to `path`, with the stored results of the other
    steps (which must come from this machine and these versions) kept as they are."""
    for step in steps:
        checks.one_of("steps", step, STEPS)
    session = Session(path, live=True)
    if set(steps) != set(STEPS):
        stored = Session(path, live=False)
        if {**stored.machine, "date": ""} != {**session.machine, "date": ""}:
            raise ValueError("the stored results come from another machine or other "
                             "versions: measure every step (give no step names)")
        if stored.machine["date"] != session.machine["date"]:
            session.machine["date"] = f"{stored.machine['date']} and {session.machine['date']}"
        session.results = {step: stored.run(step) for step in STEPS if step not in steps}
    for name in [step for step in STEPS if step in steps]:
        started = time.monotonic()
        print(name, session.run(name), f"({time.monotonic() - started:.0f} s)", sep="\n")
    session.save()


def main(arguments):
    """`python -m labsupport.reality [path [step ...]]`: measure and save."""
    parser = argparse.ArgumentParser(
        prog="python -m labsupport.reality",
        description="Measure real nginx, Redis and PostgreSQL on 127.0.0.1 beside the model "
                    "and save the results (the other steps' stored results are kept when "
                    "only some steps are named).")
    parser.add_argument("path", nargs="?", default="labs/reality-results.json",
                        help="where the results are stored (default: %(default)s)")
    parser.add_argument("steps", nargs="*", metavar="step",
                        help=f"steps to measure (default: all of {', '.join(STEPS)})")
    options = parser.parse_args(arguments)
    measure(options.path, tuple(options.steps) or STEPS)
