"""What the model says about the bench: predictions, replays, and the noise of a short run.

Picture a weather forecast checked against the thermometer. `predict` forecasts from the
distributions alone (Poisson arrivals, exponential service times with the calibrated
mean), as one would before measuring; `replay` feeds the simulator what really happened
in a measured run (the moments the requests were sent, the service time each one drew,
and what the backends' own notes say a request really cost: `back_to_back`), so any
difference left is what the model leaves out, not chance; `spread` says how far a run of a
few seconds strays from the forecast by chance alone. The reality check (`session`) draws
all three beside the measurements. Each takes a `Calibration`: what the model needs from
the real bench, measured by `experiments.calibrate`.
"""

import math
from dataclasses import dataclass

import pandas as pd

from ..components.balancer import Balancer
from ..components.server import Server
from ..core import checks
from ..core.simulate import simulate
from ..core.sweep import sweep
from ..core.workload import Trace, Workload
from .nginx import BACKENDS


@dataclass(frozen=True)
class Calibration:
    """What the model needs from the real bench, measured by its backends' own clocks.

    service_time: seconds, the model's mean service time per backend (the nominal mean
        plus backend_overhead). capacity: requests per second the backends finish at
        most (BACKENDS / service_time); nominal_capacity: the same with the nominal mean.
    backend_overhead: seconds a backend spends on a request beyond its drawn time.
    overhead: seconds of fixed latency outside the backends (client, nginx, connections).
    throughput: requests per second the backends finished while saturated; ceiling: what
        the same requests' drawn times alone allow (throughput <= ceiling, or the
        measurement is wrong). pairs: requests served back to back behind both.
    low_load_mean_latency, late_p99: seconds, the mean latency at 10 % load and how late
        the load generator sent its requests at saturation (99th percentile).
    cyclic_share: share of requests answered by the same backend as BACKENDS requests
        before (1.0: a strictly cyclic round robin).
    """

    service_time: float
    capacity: float
    nominal_capacity: float
    backend_overhead: float
    overhead: float
    throughput: float
    ceiling: float
    pairs: int
    low_load_mean_latency: float
    late_p99: float
    cyclic_share: float

    def __post_init__(self):
        for name in ("service_time", "capacity", "nominal_capacity"):
            checks.positive(name, getattr(self, name))
        for name in ("backend_overhead", "throughput", "ceiling", "low_load_mean_latency",
                     "late_p99"):
            checks.non_negative(name, getattr(self, name))
        checks.number("overhead", self.overhead)  # a replay may overshoot: it can be < 0
        checks.count("pairs", self.pairs, minimum=0)
        checks.share("cyclic_share", self.cyclic_share)


def calibrated(calibration):
    """`calibration` checked to be a `Calibration`."""
    return checks.instance("calibration", calibration, Calibration, "a Calibration")


def predict(policy, arrival_rate, calibration, requests=40_000, seed=1,
            distribution="exponential"):
    """Mean latency (s) the model predicts through the bench: simulated balancer plus overhead."""
    calibrated(calibration)
    server = Server(mean_service_time=calibration.service_time, distribution=distribution)
    system = Balancer.of(BACKENDS, server, policy=policy, health_check_interval=None)
    result = simulate(system, Workload(arrival_rate=arrival_rate, requests=requests, seed=seed))
    return result.summary["mean_latency"] + calibration.overhead


def back_to_back(measured, margin=0.005):
    """Pairs of requests one backend served one after the other with no pause between.

    A pair counts when the second request had been sent at least `margin` seconds before
    the backend's drawn time for the first ran out, so it was waiting. `occupied`: from
    the backend taking the first to taking the second (by the backend's own clock);
    `drawn`: the first one's drawn service time. occupied >= drawn always: a backend cannot
    take the next request before its sleep is over."""
    pairs = [pd.DataFrame(columns=["backend", "occupied", "drawn"])]
    for backend, rows in measured[measured["status"] == 200].groupby("backend"):
        rows = rows.sort_values("started")
        started, drawn, sent = (rows[column].to_numpy() for column in
                                ("started", "drawn", "sent"))
        waiting = sent[1:] + margin < started[:-1] + drawn[:-1]
        pairs.append(pd.DataFrame({"backend": backend,
                                   "occupied": (started[1:] - started[:-1])[waiting],
                                   "drawn": drawn[:-1][waiting]}))
    return pd.concat(pairs, ignore_index=True)


def backend_overhead(measured, fallback, fewest=30):
    """What a backend spent on a request beyond its drawn service time, in this run (s): the
    mean over its requests served back to back (`back_to_back`); `fallback` when fewer than
    `fewest` were (at low load, when queues are rare)."""
    pairs = back_to_back(measured)
    return float((pairs["occupied"] - pairs["drawn"]).mean()) if len(pairs) >= fewest else fallback


def replay(measured, calibration):
    """The model fed a measured run: each backend replayed as a `Server(workers=1)` fed the
    requests nginx gave it, at the moments they were sent, each with its own service time:
    the time its backend drew, plus the backend overhead of this run (the mean over its
    requests served back to back; the calibration's when it has fewer than 30 of them).

    Returns the model's latency (s, fixed overhead included) for each answered request of
    `measured`, indexed like it. With the sampling noise gone (same arrivals, same service
    times, same routing), what is left between this and the measurement is what the model
    leaves out, not chance."""
    calibrated(calibration)
    checks.columns("measured", measured, "status", "backend", "sent", "started", "drawn")
    overhead = backend_overhead(measured, calibration.backend_overhead)
    served = measured[measured["status"] == 200]
    latency = pd.Series(float("nan"), index=served.index)
    for _, requests in served.groupby("backend"):
        requests = requests.sort_values("sent")
        trace = Trace(times=tuple(requests["sent"]), sizes=tuple(requests["drawn"] + overhead))
        result = simulate(Server(mean_service_time=1.0), trace)
        latency[requests.index] = result.requests["latency"].to_numpy()
    return latency + calibration.overhead


def spread(policy, arrival_rate, requests, calibration, seeds=100):
    """How far one run's mean latency strays by chance: the relative standard deviation of
    the model's mean over `seeds` runs of `requests` requests (a run this short has not
    settled, the more so near saturation: the simulation appendix measures it)."""
    calibrated(calibration)
    checks.count("seeds", seeds, minimum=2, maximum=10_000)
    server = Server(mean_service_time=calibration.service_time)
    system = Balancer.of(BACKENDS, server, policy=policy, health_check_interval=None)
    means = pd.Series([simulate(system, Workload(arrival_rate=arrival_rate, requests=requests,
                                                 seed=seed)).summary["mean_latency"]
                       for seed in range(1, seeds + 1)]) + calibration.overhead
    return float(means.std() / means.mean())


def predicted_curve(policy, calibration, distribution="exponential",
                    loads=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), requests=8_000):
    """The model's mean latency (ms) at shares of the calibrated capacity: one row per load,
    each as `predict` gives it (the runs go to the sweep's worker processes at once)."""
    calibrated(calibration)
    server = Server(mean_service_time=calibration.service_time, distribution=distribution)
    system = Balancer.of(BACKENDS, server, policy=policy, health_check_interval=None)
    table = sweep([(system, Workload(arrival_rate=load * calibration.capacity,
                                     requests=requests, seed=1), {"load": load})
                   for load in loads])
    return pd.DataFrame({"load": table["load"],
                         "predicted_ms": 1000 * (table["mean_latency"] + calibration.overhead)})


def predict_failures(policy, arrival_rate, service_time, down, up, seconds=8.0):
    """Requests the model fails among those that arrive while backend 2 is down (from
    `down` to `up` seconds), with no health checks and no retries; each backend serves
    in `service_time` seconds on average."""
    servers = [Server(mean_service_time=service_time)] * BACKENDS
    servers[1] = Server(mean_service_time=service_time, failures=((down, up),))
    system = Balancer(servers=tuple(servers), policy=policy, health_check_interval=None)
    workload = Workload(arrival_rate=arrival_rate, requests=round(arrival_rate * seconds),
                        seed=1)
    requests = simulate(system, workload).requests
    during = requests["arrival"].between(down, up)
    return int((during & (requests["outcome"] == "failed")).sum())


def passive_check_failures(down, up, fail_timeout, caught):
    """Requests nginx's passive health checks (`max_fails=1`) let fail after a backend
    crashed at `down` and came back at `up` (wall-clock seconds, as `time.time()` gives).

    The first failure marks the backend down: a request `caught` inside it at the crash,
    or else the next one sent to it. Then nginx tries it again with one request each time
    its `fail_timeout` has run out, and while it is down that one fails too. nginx keeps
    this time in whole seconds (`ngx_time()`) and leaves a backend out while
    now - failed_at <= fail_timeout, so each probe comes fail_timeout + 1 whole seconds
    after the second of the failure before it (source: ngx_http_upstream_round_robin.c)."""
    down, up = checks.non_negative("down", down), checks.non_negative("up", up)
    fail_timeout = checks.count("fail_timeout", fail_timeout, maximum=3600)
    if not down <= up:
        raise ValueError(f"up must not be before down, got down={down}, up={up}")
    if up - down > 1e6:
        raise ValueError(f"up - down must be at most 1,000,000 seconds, got {up - down:g}")
    failures = 0 if caught else 1
    failed_at = math.floor(down)
    while failed_at + fail_timeout + 1 < up:
        failed_at += fail_timeout + 1
        failures += 1
    return failures
