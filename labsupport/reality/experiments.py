"""The reality check's experiments on real software: calibration, latency, failover.

Picture a test engineer at a bench with a stopwatch: first she finds out what the machine
can really do (calibration), then she drives it at a few steady loads and notes how long
each request takes, then she pulls a plug mid-run and counts what fails. Each experiment
here starts a `nginx.Bench` (nginx in front of three backends on 127.0.0.1), drives it
with the open-loop load generator, and returns a table or a dict with the model's view
(`model`) beside what was measured.
"""

import dataclasses
import time

import pandas as pd

from ..core import checks
from .nginx import BACKENDS, SERVICE, Bench
from .model import (Calibration, back_to_back, backend_overhead, calibrated,
                    passive_check_failures, predict, predict_failures, replay, spread)


def calibrate(low_requests=150, saturation_seconds=2.0, seed=1):
    """Measure what the model needs from the real bench, by the backends' own clocks.

    The bench is offered 1.5 times its nominal capacity, so each backend has a queue;
    for requests it served back to back, a backend reports when it took each one and the
    service time it drew. `backend_overhead`: the mean of (gap between two takes - drawn
    time): HTTP parsing, answering, accepting the next connection. The model's service
    time is the nominal mean plus that, and `capacity` = BACKENDS / service time.
    `throughput` (what the backends finished per second while busy) can never exceed
    `ceiling` (what the same requests' drawn times alone allow): that is physics, and
    the test of the measurement. `overhead`: the fixed latency outside the backends
    (client, nginx, connections), from a low-load run replayed through the model."""
    nominal = BACKENDS / SERVICE
    with Bench(BACKENDS, SERVICE, seed=seed) as bench:
        low = bench.load(0.1 * nominal, low_requests, seed=seed)
        burst = bench.load(1.5 * nominal, round(1.5 * nominal * saturation_seconds),
                           seed=seed + 1, timeout=30)
    pairs = back_to_back(burst)
    per_backend = pairs.groupby("backend")[["occupied", "drawn"]].mean()
    backend_overhead = float((pairs["occupied"] - pairs["drawn"]).mean())
    before_overhead = Calibration(
        service_time=SERVICE + backend_overhead,
        capacity=BACKENDS / (SERVICE + backend_overhead), nominal_capacity=nominal,
        backend_overhead=backend_overhead, overhead=0.0,
        throughput=float((1 / per_backend["occupied"]).sum()),
        ceiling=float((1 / per_backend["drawn"]).sum()), pairs=len(pairs),
        low_load_mean_latency=float(low["latency"].mean()),
        late_p99=float((burst["sent"] - burst["planned"]).quantile(0.99)),
        cyclic_share=_cyclic_share(low))
    replayed = replay(low, before_overhead)
    overhead = float((low.loc[replayed.index, "latency"] - replayed).mean())
    return dataclasses.replace(before_overhead, overhead=overhead)


def _cyclic_share(requests):
    """Share of requests answered by the same backend as the request BACKENDS before."""
    backend = requests.sort_values("sent")["backend"]
    return float((backend == backend.shift(BACKENDS)).iloc[BACKENDS:].mean())


def latency_at_loads(calibration, policies=("round_robin", "least_connections"),
                    loads=(0.2, 0.5, 0.8, 0.9), seconds=4.0, seed=1):
    """Mean latency at shares of the calibrated capacity: measured, replayed and predicted,
    one row per policy and load (see `compare`)."""
    rows = []
    for policy in policies:
        with Bench(BACKENDS, SERVICE, policy=policy, seed=seed) as bench:
            for load in loads:
                rate = load * calibration.capacity
                measured = bench.load(rate, round(rate * seconds), seed=seed)
                rows.append({"policy": policy, "load": load, "arrival_rate": rate,
                             **compare(measured, policy, rate, calibration)})
    table = pd.DataFrame(rows)
    table["ratio"] = table["measured_ms"] / table["predicted_ms"]
    table["replay_ratio"] = table["measured_ms"] / table["replayed_ms"]
    return table


def compare(measured, policy, rate, calibration):
    """One measured run beside the model. replayed_ms: the model fed the run's own arrivals
    and service times (`replay`); predicted_ms: the model fed only the distributions
    (`predict`), as one would before measuring; spread: how far a run this long strays from
    that by chance (`spread`); backend_overhead_ms: this run's (`backend_overhead`);
    late_p99_ms: how late the load generator sent its requests (99th percentile)."""
    replayed = replay(measured, calibration)
    late = measured["sent"] - measured["planned"]
    return {"requests": len(measured), "errors": len(measured) - len(replayed),
            "measured_ms": 1000 * measured.loc[replayed.index, "latency"].mean(),
            "replayed_ms": 1000 * replayed.mean(),
            "predicted_ms": 1000 * predict(policy, rate, calibration),
            "spread": spread(policy, rate, len(measured), calibration),
            "backend_overhead_ms": 1000 * backend_overhead(measured,
                                                           calibration.backend_overhead),
            "late_p99_ms": 1000 * late.quantile(0.99)}


FAILOVER_CASES = (("round_robin", False, False), ("round_robin", True, False),
                  ("round_robin", False, True), ("least_connections", False, False),
                  ("least_connections", True, True))


def failover(calibration, cases=FAILOVER_CASES, load=0.5, seconds=6.0, down=1.5, up=4.5,
             fail_timeout=1, seed=1):
    """Kill backend 2 at `down` s and restart it at `up` s during a run; count errors.

    cases: (policy, health_checks, retries). `caught`: requests that were inside the
    backend when it died (sent before the kill; nothing saves them but a retry).
    `failed_after`: requests sent after the kill that failed, what the balancer's rule
    decides, and `predicted_after` the rule's prediction: with no health checks, the model
    (`predict_failures`); with nginx's passive checks, `passive_check_failures`; with
    retries, none."""
    calibrated(calibration)
    checks.positive("seconds", seconds)
    if not 0 <= down < up < seconds:
        raise ValueError(f"need 0 <= down < up < seconds, got {down}, {up}, {seconds}")
    rate = load * calibration.capacity
    rows = []
    for policy, health_checks, retries in cases:
        with Bench(BACKENDS, SERVICE, policy=policy, health_checks=health_checks,
                   retries=retries, fail_timeout=fail_timeout, seed=seed) as bench:
            moments = {}  # (monotonic, wall-clock) seconds of the kill and the restart

            def kill():
                bench.kill_backend(1)
                moments["down"] = (time.monotonic(), time.time())

            def restart():
                bench.start_backend(1)
                moments["up"] = (time.monotonic(), time.time())

            measured = bench.load(rate, round(rate * seconds), seed=seed,
                                  events=((down, kill), (up, restart)))
        killed, back = (moments[name][0] - measured.attrs["began"] for name in ("down", "up"))
        failed = measured["status"] != 200
        before = measured["sent"] < killed
        caught = int((failed & before).sum())
        if retries:
            predicted = 0
        elif health_checks:
            predicted = passive_check_failures(moments["down"][1], moments["up"][1],
                                               fail_timeout, caught)
        else:
            predicted = predict_failures(policy, rate, calibration.service_time, killed, back,
                                         seconds=seconds)
        rows.append({"policy": policy, "health_checks": health_checks, "retries": retries,
                     "requests": len(measured), "downtime_s": back - killed,
                     "sent_while_down": int(measured["sent"].between(killed, back).sum()),
                     "caught": caught, "failed_after": int((failed & ~before).sum()),
                     "predicted_after": predicted})
    return pd.DataFrame(rows)
