"""The reality check: real nginx, Redis and PostgreSQL measured beside the simulator.

Picture a flight simulator checked against a real aircraft: same inputs, compare the
readings. Here the aircraft is real software on 127.0.0.1 (`loopback.Bench`: three
backends with exponential service times behind nginx; Redis and PostgreSQL each with one
replica) and the simulator is labsupport, fed the same service times. Each step is one
function returning a table or a dict; `Session` runs them live when the software is
installed, or shows the stored results of the last live run when it is not.

    python -m labsupport.reality labs/reality-results.json   # run every step, save
"""

import datetime
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from . import checks
from .balancer import Balancer
from .loopback import Bench, nginx_binary
from .replicas import postgres_bin, postgres_lag, redis_lag
from .server import Server
from .simulate import simulate
from .workload import Workload

BACKENDS, SERVICE = 3, 0.010  # three backends, 10 ms mean service time (exponential)


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


# --- the model -----------------------------------------------------------------

def predict(policy, arrival_rate, calibration, requests=40_000, seed=1,
            distribution="exponential"):
    """Mean latency (s) the model predicts through the bench: simulated balancer plus overhead."""
    server = Server(mean_service_time=calibration["service_time"], distribution=distribution)
    system = Balancer.of(BACKENDS, server, policy=policy, health_check_interval=None)
    result = simulate(system, Workload(arrival_rate=arrival_rate, requests=requests, seed=seed))
    return result.summary["mean_latency"] + calibration["overhead"]


def predicted_curve(policy, calibration, distribution="exponential",
                    loads=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), requests=8_000):
    """The model's mean latency (ms) at shares of the measured capacity: one row per load."""
    rate = calibration["measured_capacity"]
    return pd.DataFrame({"load": loads, "predicted_ms": [
        1000 * predict(policy, load * rate, calibration, requests, distribution=distribution)
        for load in loads]})


def predict_failures(policy, arrival_rate, calibration, down, up, seconds=8.0):
    """Requests the model fails when backend 2 is down from `down` to `up` seconds, no checks."""
    servers = [Server(mean_service_time=calibration["service_time"])] * BACKENDS
    servers[1] = Server(mean_service_time=calibration["service_time"], failures=((down, up),))
    system = Balancer(servers=tuple(servers), policy=policy, health_check_interval=None)
    workload = Workload(arrival_rate=arrival_rate, requests=round(arrival_rate * seconds),
                        seed=1)
    return simulate(system, workload).summary["failed"]


# --- the steps -----------------------------------------------------------------

def calibrate(low_requests=150, saturation_seconds=2.0, seed=1):
    """Measure the bench's real capacity and fixed overhead, and the model's inputs.

    Capacity: completions per second while the bench is offered 1.5 times its nominal
    capacity (the middle 60 % of the completions, when every backend is busy). The model's
    service time is then `BACKENDS / capacity`; its overhead is what the low-load latency
    has beyond the model's low-load prediction (nginx, HTTP and the client)."""
    nominal = BACKENDS / SERVICE
    with Bench(BACKENDS, SERVICE, seed=seed) as bench:
        low = bench.load(0.1 * nominal, low_requests, seed=seed)
        burst = bench.load(1.5 * nominal, round(1.5 * nominal * saturation_seconds),
                           seed=seed + 1, timeout=30)
    done = (burst["sent"] + burst["latency"]).sort_values()
    first, last = done.quantile(0.2), done.quantile(0.8)
    capacity = ((done >= first) & (done <= last)).sum() / (last - first)
    calibration = {"nominal_capacity": nominal, "measured_capacity": float(capacity),
                   "service_time": BACKENDS / float(capacity), "overhead": 0.0,
                   "low_load_mean": float(low["latency"].mean())}
    model_low = predict("round_robin", 0.1 * nominal, calibration)
    calibration["overhead"] = max(0.0, calibration["low_load_mean"] - model_low)
    calibration["cyclic_share"] = _cyclic_share(low)
    return calibration


def _cyclic_share(requests):
    """Share of requests answered by the same backend as the request BACKENDS before."""
    backend = requests.sort_values("sent")["backend"]
    return float((backend == backend.shift(BACKENDS)).iloc[BACKENDS:].mean())


def latency_vs_load(calibration, policies=("round_robin", "least_connections"),
                    loads=(0.2, 0.5, 0.8, 0.9), seconds=5.0, seed=1):
    """Measured and predicted mean latency at shares of the measured capacity."""
    rows = []
    for policy in policies:
        with Bench(BACKENDS, SERVICE, policy=policy, seed=seed) as bench:
            for load in loads:
                rate = load * calibration["measured_capacity"]
                measured = bench.load(rate, round(rate * seconds), seed=seed)
                predicted = predict(policy, rate, calibration)
                served = measured[measured["status"] == 200]
                rows.append({"policy": policy, "load": load, "arrival_rate": rate,
                             "requests": len(measured), "errors": len(measured) - len(served),
                             "measured_ms": 1000 * served["latency"].mean(),
                             "predicted_ms": 1000 * predicted})
    table = pd.DataFrame(rows)
    table["ratio"] = table["measured_ms"] / table["predicted_ms"]
    return table


FAILOVER_CASES = (("round_robin", False, False), ("round_robin", True, False),
                  ("round_robin", False, True), ("least_connections", False, False),
                  ("least_connections", True, True))


def failover(calibration, cases=FAILOVER_CASES, load=0.5, seconds=8.0, down=2.0, up=5.0,
             fail_timeout=1, seed=1):
    """Kill backend 2 at `down` s and restart it at `up` s during a run; count errors.

    cases: (policy, health_checks, retries). Predicted: the model with no health checks
    (the share of traffic the dead backend draws × rate × downtime, from the simulation);
    with nginx's passive checks, one probe request per `fail_timeout` seconds of downtime;
    with retries, none."""
    checks.positive("seconds", seconds)
    if not 0 <= down < up < seconds:
        raise ValueError(f"need 0 <= down < up < seconds, got {down}, {up}, {seconds}")
    rate = load * calibration["measured_capacity"]
    rows = []
    for policy, health_checks, retries in cases:
        with Bench(BACKENDS, SERVICE, policy=policy, health_checks=health_checks,
                   retries=retries, fail_timeout=fail_timeout, seed=seed) as bench:
            moments = {}
            began = time.monotonic()

            def kill():
                bench.kill_backend(1)
                moments["down"] = time.monotonic() - began

            def restart():
                bench.start_backend(1)
                moments["up"] = time.monotonic() - began

            measured = bench.load(rate, round(rate * seconds), seed=seed,
                                  events=((down, kill), (up, restart)))
        downtime = moments["up"] - moments["down"]
        if retries:
            predicted = 0
        elif health_checks:
            predicted = int(downtime // fail_timeout) + 1
        else:
            predicted = predict_failures(policy, rate, calibration, moments["down"],
                                         moments["up"], seconds=seconds)
        while_down = measured["sent"].between(moments["down"], moments["up"])
        rows.append({"policy": policy, "health_checks": health_checks, "retries": retries,
                     "requests": len(measured), "downtime_s": downtime,
                     "sent_while_down": int(while_down.sum()),
                     "errors": int((measured["status"] != 200).sum()),
                     "predicted_errors": predicted})
    return pd.DataFrame(rows)


# --- live or stored ------------------------------------------------------------

STEPS = ("calibration", "latency", "failover", "replication")


class Session:
    """Runs the steps live when everything is installed, else reads `stored` (a JSON file).

    live: True or False to choose; by default live unless something is missing or the
    environment variable ZTM_REALITY is "stored"."""

    def __init__(self, stored, live=None):
        self.stored_path = Path(stored)
        self.missing = missing()
        if live is None:
            live = not self.missing and os.environ.get("ZTM_REALITY") != "stored"
        self.live = live
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
            result = pd.DataFrame(**value["table"]) if "table" in value else value
        elif step == "calibration":
            result = calibrate()
        elif step == "latency":
            result = latency_vs_load(self.results["calibration"])
        elif step == "failover":
            result = failover(self.results["calibration"])
        else:
            result = pd.DataFrame([redis_lag(), postgres_lag()])
        self.results[step] = result
        return result

    def about(self):
        """One paragraph: where these numbers come from and how to measure them yourself."""
        where = (f"{self.machine['system']}, {self.machine['cpus']} CPUs, "
                 f"{self.machine['nginx']}, {self.machine['redis'].split(' sha=')[0]}, "
                 f"{self.machine['postgresql']}, on {self.machine['date']}")
        if self.live:
            return f"Measured live, just now, on this machine: {where}."
        lacking = (f"this machine lacks {', '.join(self.missing)}" if self.missing
                   else "asked not to run live")
        return (f"Stored results of the last live run ({where}); {lacking}. To measure on "
                "your own machine: `make reality` (installs nginx, Redis and PostgreSQL "
                "where it can), then run this notebook.")

    def save(self, path=None):
        """Write the results and the machine facts as JSON (what the stored mode reads)."""
        results = {step: ({"table": value.to_dict("split")} if isinstance(value, pd.DataFrame)
                          else value) for step, value in self.results.items()}
        for value in results.values():
            value.get("table", {}).pop("index", None)
        Path(path or self.stored_path).write_text(
            json.dumps({"machine": self.machine, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    session = Session(sys.argv[1] if len(sys.argv) > 1 else "labs/reality-results.json",
                      live=True)
    for name in STEPS:
        started = time.monotonic()
        print(name, session.run(name), f"({time.monotonic() - started:.0f} s)", sep="\n")
    session.save()
