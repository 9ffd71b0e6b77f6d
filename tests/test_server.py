"""The single server and the run loop: exact small cases, theory, conservation, bad input."""

import heapq
import math

import numpy as np
import pandas as pd
import pytest

from labsupport import OUTCOMES, Server, Trace, Workload, simulate, theory

from helpers import rows
from labsupport.components.server import PARETO_SHAPE, request_sizes

ONE_SECOND = dict(mean_service_time=1.0, distribution="deterministic")


# --- exact timelines -------------------------------------------------------

def test_one_worker_serves_in_arrival_order():
    result = simulate(Server(**ONE_SECOND), Trace(times=(0.0, 0.5, 0.6)))
    requests = rows(result)
    assert requests["start"].tolist() == [0.0, 1.0, 2.0]
    assert requests["finish"].tolist() == [1.0, 2.0, 3.0]
    assert requests["latency"].tolist() == pytest.approx([1.0, 1.5, 2.4])
    assert requests["outcome"].tolist() == ["ok"] * 3
    assert result.summary["utilisation.server"] == pytest.approx(1.0)


def test_two_workers_serve_in_parallel():
    result = simulate(Server(workers=2, **ONE_SECOND), Trace(times=(0.0, 0.5, 0.6)))
    assert rows(result)["finish"].tolist() == [1.0, 1.5, 2.0]


def test_speed_divides_service_time_and_size_scales_it():
    server = Server(mean_service_time=1.0, speed=2.0)  # exponential: time = size * mean / speed
    result = simulate(server, Trace(times=(0.0, 5.0), sizes=(1.0, 3.0)))
    assert rows(result)["latency"].tolist() == [0.5, 1.5]


def test_full_queue_drops_arrivals():
    result = simulate(Server(queue_limit=1, **ONE_SECOND), Trace(times=(0.0, 0.1, 0.2, 1.5)))
    requests = rows(result)
    assert requests["outcome"].tolist() == ["ok", "ok", "dropped", "ok"]
    assert requests.loc[2, "finish"] == 0.2  # turned away at once
    assert requests["finish"].tolist()[-1] == 3.0


def test_queue_limit_zero_means_no_waiting_room():
    result = simulate(Server(queue_limit=0, **ONE_SECOND), Trace(times=(0.0, 0.5, 1.0)))
    assert rows(result)["outcome"].tolist() == ["ok", "dropped", "ok"]


def test_failure_fails_everything_inside_and_every_arrival_until_recovery():
    server = Server(failures=((0.5, 2.0),), **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0, 0.1, 1.0, 2.5)))
    requests = rows(result)
    assert requests["outcome"].tolist() == ["failed", "failed", "failed", "ok"]
    assert requests["finish"].tolist() == [0.5, 0.5, 1.0, 3.5]
    assert requests.loc[1, "start"] != requests.loc[1, "start"]  # never started: NaN


def test_server_that_never_recovers_fails_the_rest():
    server = Server(failures=((1.5, math.inf),), **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0, 1.0, 2.0, 3.0)))
    assert rows(result)["outcome"].tolist() == ["ok", "failed", "failed", "failed"]


def test_worker_interrupted_by_a_failure_serves_again_after_recovery():
    server = Server(failures=((0.5, 1.0), (5.0, 6.0)), **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0, 1.2, 1.3, 5.5, 7.0)))
    requests = rows(result)
    assert requests["outcome"].tolist() == ["failed", "ok", "ok", "failed", "ok"]
    assert requests["finish"].tolist() == [0.5, 2.2, 3.2, 5.5, 8.0]


def test_request_handed_to_a_worker_the_instant_the_server_fails_fails_with_it():
    # Request 1 arrives at 1.0 and a free worker starts on it at once; the second failure,
    # also at 1.0, cuts that service short. The request fails, none of its service counts
    # as busy time, and the worker serves again after recovery.
    server = Server(failures=((0.2, 0.3), (1.0, 2.0)), mean_service_time=0.1,
                    distribution="deterministic")
    result = simulate(server, Trace(times=(0.0, 1.0, 2.5)))
    requests = rows(result)
    assert requests["outcome"].tolist() == ["ok", "failed", "ok"]
    assert requests["finish"].tolist() == pytest.approx([0.1, 1.0, 2.6])
    assert requests.loc[1, "start"] == 1.0  # begun, and cut short at once
    assert result.summary["failed"] == 1
    assert result.summary["utilisation.server"] == pytest.approx(0.2 / 2.6)


def test_request_table_column_types():
    result = simulate(Server(**ONE_SECOND), Trace(times=(0.0, 1.0), writes=(False, True)))
    requests = result.requests
    assert list(requests["outcome"].cat.categories) == list(OUTCOMES)
    assert requests["kind"].tolist() == ["read", "write"]
    assert requests["server"].tolist() == ["server", "server"]
    assert requests["hit"].dtype == bool and not requests["hit"].any()


# --- the exact oracle: a FIFO M/M/c as a plain heapq loop ---------------------

def fifo_oracle(arrival_times, service_times, workers):
    """Finish time of every request in a FIFO queue with `workers` servers."""
    free_at = [0.0] * workers
    finish = []
    for arrival, service in zip(arrival_times, service_times):
        start = max(arrival, heapq.heappop(free_at))
        finish.append(start + service)
        heapq.heappush(free_at, start + service)
    return finish


@pytest.mark.parametrize("workers", [1, 4])
def test_simulation_matches_heapq_oracle_exactly(workers):
    workload = Workload(arrival_rate=0.9 * workers / 0.01, requests=20_000, seed=7)
    result = simulate(Server(workers=workers, mean_service_time=0.01), workload)
    arrivals = workload.generate()
    expected = fifo_oracle(arrivals.time.tolist(), (0.01 * arrivals.size).tolist(), workers)
    assert np.array_equal(result.requests["finish"].to_numpy(), np.array(expected))


# --- against theory ----------------------------------------------------------

SEEDS = range(1, 7)


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("load", [0.5, 0.8])
def test_mean_response_time_matches_mmc_theory(workers, load):
    """Six seeds of 40,000 requests. The run-to-run spread gives the standard error of
    their mean (about 1-2 % at load 0.8); the simulated mean must lie within four
    standard errors of Erlang C's value, and within 5 % of it."""
    mean_service_time = 0.010
    arrival_rate = load * workers / mean_service_time
    means = [simulate(Server(workers=workers, mean_service_time=mean_service_time),
                      Workload(arrival_rate=arrival_rate, requests=40_000, seed=seed)
                      ).summary["mean_latency"] for seed in SEEDS]
    expected = theory.mmc_mean_response(arrival_rate, mean_service_time, workers)
    standard_error = np.std(means, ddof=1) / math.sqrt(len(means))
    assert abs(np.mean(means) - expected) < 4 * standard_error
    assert np.mean(means) == pytest.approx(expected, rel=0.05)


def test_utilisation_matches_offered_load():
    result = simulate(Server(workers=2, mean_service_time=0.01),
                      Workload(arrival_rate=140, requests=50_000, seed=3))
    assert result.summary["offered_load"] == pytest.approx(0.7)
    assert result.summary["utilisation.server"] == pytest.approx(0.7, rel=0.03)


def test_deterministic_service_waits_half_as_long_as_exponential_at_one_worker():
    """Pollaczek-Khinchine: M/D/1 mean wait is half of M/M/1's at the same load."""
    workload = Workload(arrival_rate=80, requests=100_000, seed=5)
    waits = {d: simulate(Server(mean_service_time=0.01, distribution=d), workload)
             .requests["wait"].mean() for d in ("exponential", "deterministic")}
    assert waits["deterministic"] / waits["exponential"] == pytest.approx(0.5, rel=0.1)


def test_pareto_sizes_have_mean_one_a_floor_and_a_heavy_tail():
    draws = Workload(arrival_rate=1, requests=200_000, seed=6).generate().size
    sizes = request_sizes("pareto", draws)
    # Variance about 4.8, so the standard error of the mean of 200,000 is 0.005: allow 4 of them.
    assert sizes.mean() == pytest.approx(1.0, abs=0.02)
    assert sizes.min() >= (PARETO_SHAPE - 1) / PARETO_SHAPE
    assert np.percentile(sizes, 99.9) > 10 * np.median(sizes)
    assert np.array_equal(request_sizes("exponential", draws), draws)
    assert set(request_sizes("deterministic", draws)) == {1.0}


def test_mg1_mean_wait_matches_pollaczek_khinchine_for_deterministic_service():
    workload = Workload(arrival_rate=60, requests=100_000, seed=9)
    wait = simulate(Server(mean_service_time=0.01, distribution="deterministic"),
                    workload).requests["wait"].mean()
    expected = theory.mg1_mean_wait(60, 0.01, service_scv=0.0)
    assert wait == pytest.approx(expected, rel=0.06)


# --- determinism and conservation ---------------------------------------------

def test_same_seed_same_request_log_and_different_seed_different_log():
    server = Server(workers=2, mean_service_time=0.02, queue_limit=3, failures=((5, 8),))
    first, again, other = (simulate(server, Workload(arrival_rate=90, duration=20, seed=s))
                           for s in (11, 11, 12))
    pd.testing.assert_frame_equal(first.requests, again.requests)
    assert len(first.requests) != len(other.requests) or not first.requests.equals(other.requests)


@pytest.mark.parametrize("server", [
    Server(),
    Server(queue_limit=2),
    Server(workers=3, failures=((3.0, 6.0), (10.0, math.inf))),
    Server(mean_service_time=0.05, queue_limit=10, failures=((1.0, 2.0),)),
])
def test_every_request_ends_with_exactly_one_outcome(server):
    result = simulate(server, Workload(arrival_rate=120, duration=15, seed=2))
    counts = result.requests["outcome"].value_counts()
    assert set(counts.index) <= set(OUTCOMES)
    assert sum(result.summary[outcome] for outcome in OUTCOMES) == len(result.requests)
    assert counts.sum() == result.summary["requests"] == len(result.requests)


def test_overload_is_bounded_flagged_unstable_and_leaves_requests_in_flight():
    workload = Workload(arrival_rate=300, requests=20_000, seed=1)  # three times capacity
    result = simulate(Server(mean_service_time=0.01), workload, drain_time=5.0)
    assert result.summary["unstable"] is True
    assert result.summary["offered_load"] == pytest.approx(3.0)
    assert result.end_time <= workload.generate().end + 5.0
    assert result.summary["in_flight"] > 10_000
    assert sum(result.summary[outcome] for outcome in OUTCOMES) == 20_000


def test_stable_run_drains_completely():
    result = simulate(Server(), Workload(arrival_rate=50, duration=30, seed=4))
    assert result.summary["unstable"] is False
    assert result.summary["in_flight"] == 0
    assert result.summary["ok"] == len(result.requests)


def test_result_row_carries_parameters_beside_the_summary():
    row = simulate(Server(workers=2), Workload(arrival_rate=50, duration=5)).row()
    assert row["system.workers"] == 2 and row["workload.arrival_rate"] == 50
    assert "p99_latency" in row


# --- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    (dict(workers=0), "workers"),
    (dict(workers=1.5), "workers"),
    (dict(workers=True), "workers"),
    (dict(mean_service_time=0), "mean_service_time"),
    (dict(mean_service_time=-0.01), "mean_service_time"),
    (dict(mean_service_time=float("nan")), "mean_service_time"),
    (dict(mean_service_time=float("inf")), "mean_service_time"),
    (dict(distribution="lognormal"), "distribution"),
    (dict(speed=0), "speed"),
    (dict(speed="fast"), "speed"),
    (dict(queue_limit=-1), "queue_limit"),
    (dict(failures=((5.0, 2.0),)), "failures"),
    (dict(failures=((-1.0, 2.0),)), "failures"),
    (dict(failures=((1.0, 3.0), (2.0, 4.0))), "failures"),
    (dict(failures=((1.0,),)), "failures"),
])
def test_server_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Server(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(arrival_rate=0, duration=10), "arrival_rate"),
    (dict(arrival_rate=-5, duration=10), "arrival_rate"),
    (dict(arrival_rate=float("nan"), duration=10), "arrival_rate"),
    (dict(arrival_rate=10), "duration"),
    (dict(arrival_rate=10, duration=10, requests=5), "duration"),
    (dict(arrival_rate=10, duration=-1), "duration"),
    (dict(arrival_rate=10, requests=0), "requests"),
    (dict(arrival_rate=10, requests=10.5), "requests"),
    (dict(arrival_rate=1e9, duration=60), "arrival_rate"),
    (dict(arrival_rate=10, duration=1, read_share=1.5), "read_share"),
    (dict(arrival_rate=10, duration=1, keys=0), "keys"),
    (dict(arrival_rate=10, duration=1, seed=-1), "seed"),
])
def test_workload_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Workload(**kwargs)


def test_trace_rejects_times_out_of_order():
    with pytest.raises(ValueError, match="times"):
        Trace(times=(1.0, 0.5))
    with pytest.raises(ValueError, match="sizes"):
        Trace(times=(1.0, 2.0), sizes=(1.0,))


def test_duplicate_server_names_are_rejected():
    from labsupport.core.log import RequestLog
    log = RequestLog(Trace(times=(0.0,)).generate(), clock=None)
    log.place("web")
    with pytest.raises(ValueError, match="name"):
        log.place("web")


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_pauses_the_garbage_collector_and_leaves_it_as_it_found_it(enabled):
    import gc

    from labsupport import Database
    seen = []

    def watch(phase, info):
        seen.append(phase)
    (gc.enable if enabled else gc.disable)()
    gc.callbacks.append(watch)
    try:
        # Every write copied to 20 replicas: tens of thousands of events in flight at once.
        simulate(Database(replicas=20, node=Server(mean_service_time=0.0001)),
                 Workload(arrival_rate=9_000, requests=2_000, read_share=0))
        assert gc.isenabled() == enabled
    finally:
        gc.callbacks.remove(watch)
        gc.enable()
    # Unpaused, this run sets off hundreds of collections; drawing the workload and building
    # the table, outside the paused run, a few at most.
    assert len(seen) // 2 <= 3, f"{len(seen) // 2} collections"


def test_a_run_leaves_the_same_garbage_whatever_its_length():
    # Why pausing the collector is safe: a run makes no reference cycles per request, so
    # nothing piles up while it is paused (what is left is the run's own structure).
    import gc

    from labsupport import Balancer, Cache, Database
    systems = [Balancer.of(3, Server(failures=((2.0, 4.0),)), health_check_interval=0.5,
                           retries=True),
               Database(replicas=3, primary_failures=((5.0, 7.0),),
                        replica_failures=((3.0, 4.0),), mean_lag=0.2),
               Cache(database=Server(), max_items=50, ttl=2.0, failures=((5.0, 6.0),))]
    for system in systems:
        gc.collect()
        simulate(system, Workload(arrival_rate=150, requests=20_000, keys=500))
        garbage = gc.collect()  # a cycle per request would leave 20,000 objects or more
        assert garbage < 1_000, (system, garbage)
