"""Tiers that compose: a request's whole path, exact timelines, Jackson networks, faults."""

import math
import statistics

import numpy as np
import pytest
import simpy

from labsupport import (Balancer, Cache, Clients, Database, Server, Trace, Workload,
                        simulate, theory)

from helpers import accounted, rows

# A Trace's sizes are its requests' sizes at the first server on their path (size 1 if not
# given); each server behind draws its own, so exact cases make those deterministic.
DATABASE = Server(workers=1, mean_service_time=0.010, name="database",
                  distribution="deterministic")
CACHE_SERVER = Server(workers=1, mean_service_time=0.001, name="cache",
                      distribution="deterministic")


def web(calls, **options):
    return Server(**{"workers": 1, "mean_service_time": 0.002, "name": "web", "calls": calls,
                     **options})


def test_a_request_crosses_balancer_web_server_cache_and_database_exactly():
    """Request 0 misses: web 0-2 ms, database 2-12 ms, answered at 12 ms. Request 1 (same key,
    at 100 ms) hits: web 100-102 ms, cache server 102-103 ms. Each tier's time is its own
    queue and service, not the time it waited on the tiers behind."""
    cache = Cache(max_items=10, server=CACHE_SERVER, database=DATABASE)
    system = Balancer.of(2, web(cache), health_check_interval=None)
    log = rows(simulate(system, Trace(times=(0.0, 0.1))))
    assert list(log["outcome"]) == ["ok", "ok"]
    assert log.loc[0, "finish"] == pytest.approx(0.012)
    assert log.loc[1, "finish"] == pytest.approx(0.103)
    assert list(log["hit"]) == [False, True]
    assert log.loc[0, "time_in.web"] == pytest.approx(0.002)
    assert log.loc[0, "time_in.database"] == pytest.approx(0.010)
    assert log.loc[0, "time_in.cache"] == 0
    assert log.loc[1, "time_in.cache"] == pytest.approx(0.001)
    assert list(log["ended_by"]) == ["database", "cache"]  # where each was last served


def test_a_blocking_worker_waits_for_the_tier_behind_an_event_driven_one_does_not():
    """Two requests at once, one web worker, a 10 ms database. Blocking: the second waits for
    the worker until the first's answer (12 ms), then 12-14 web, 14-24 database. Event-driven:
    the worker is free at 2 ms, so the second is at the web 2-4 ms and queues at the database
    until 12 ms: 12-22."""
    trace = Trace(times=(0.0, 0.0))
    blocking = rows(simulate(web(DATABASE), trace))
    handing_off = rows(simulate(web(DATABASE, blocking=False), trace))
    assert blocking.loc[1, "finish"] == pytest.approx(0.024)
    assert handing_off.loc[1, "finish"] == pytest.approx(0.022)
    assert blocking.loc[1, "time_in.web"] == pytest.approx(0.014)  # 12 ms of it queued
    assert handing_off.loc[1, "time_in.database"] == pytest.approx(0.018)


def test_a_call_timeout_bounds_what_the_front_waits():
    """A database that takes a second: with a 50 ms timeout on the call, every request is
    answered `timed_out` by the web server within its own work plus the timeout, while
    without one they wait for ever longer."""
    slow = Server(workers=1, mean_service_time=1.0, name="database")
    workload = Workload(arrival_rate=20, requests=200, seed=3)
    guarded = simulate(web(slow, workers=50, call_timeout=0.05), workload).requests
    assert (guarded["outcome"] == "timed_out").sum() >= 190
    timed_out = guarded[guarded["outcome"] == "timed_out"]
    assert (timed_out["ended_by"] == "web").all()
    assert (timed_out["latency"] <= timed_out["time_in.web"] + 0.05 + 1e-9).all()
    unguarded = simulate(web(slow, workers=50), workload, drain_time=1e4).requests
    assert unguarded["latency"].max() > 5


def test_a_failure_behind_a_web_server_is_not_retried_on_another_one():
    """Like nginx, the balancer retries a request that its server failed (the server went
    down), not one that failed behind it (the server answered with an error)."""
    dead_database = Server(name="database", failures=((0.0, math.inf),))
    system = Balancer.of(2, web(dead_database), retries=True, health_check_interval=None)
    log = rows(simulate(system, Trace(times=(0.0, 0.1))))
    assert (log["outcome"] == "failed").all() and not log["retried"].any()
    assert (log["ended_by"] == "database").all()
    dying_web = Server(name="web-1", mean_service_time=0.002, calls=DATABASE,
                       failures=((0.0, math.inf),), tier="web")
    system = Balancer(servers=(dying_web, web(DATABASE, name="web-2")), retries=True,
                      health_check_interval=None)
    log = rows(simulate(system, Trace(times=(0.0,))))
    assert log.loc[0, "outcome"] == "ok" and log.loc[0, "retried"]


def jackson_runs(system, arrival_rate, seeds=8, requests=40_000):
    means = [simulate(system, Workload(arrival_rate=arrival_rate, requests=requests,
                                       seed=seed)).summary["mean_latency"]
             for seed in range(1, seeds + 1)]
    return statistics.fmean(means), statistics.stdev(means) / math.sqrt(seeds)


def test_event_driven_tiers_form_a_jackson_network():
    """Web servers (4 workers, 20 ms) handing requests to a database (2 workers, 8 ms), fed
    Poisson arrivals at 150/s (loads 0.75 and 0.6): each station's output is Poisson again
    (Burke), so the mean response is the sum of each M/M/c's mean. Eight runs of 40,000
    requests; the mean of their means must lie within 4 standard errors (from their spread)
    of the sum. With the spread estimated from 8 runs the error is t-distributed with 7
    degrees of freedom, so a correct model breaks this bound about once in 190 seeds; the
    seeds are fixed, so it cannot flake."""
    database = Server(workers=2, mean_service_time=0.008, name="database")
    system = Server(workers=4, mean_service_time=0.020, name="web", calls=database,
                    blocking=False)
    mean, standard_error = jackson_runs(system, 150)
    expected = (theory.mmc_mean_response(150, 0.020, 4)
                + theory.mmc_mean_response(150, 0.008, 2))
    assert abs(mean - expected) < 4 * standard_error, (mean, expected, standard_error)
    assert standard_error / expected < 0.02  # the sample is big enough to mean something


def test_a_cache_whose_hits_skip_the_database_is_close_to_the_jackson_sum():
    """Web → cache → database (event-driven), 70 % of reads hit. Each station is an M/M/c at
    its own rate: hits at the cache server, misses at the database. A real cache's miss
    stream is not quite Poisson (a miss makes the next read of that key a hit), so allow 1 %
    beside 4 standard errors (the gap measured here is about 0.3 %)."""
    database = Server(workers=2, mean_service_time=0.008, name="database")
    cache = Cache(max_items=200, database=database, server=Server(workers=2,
                  mean_service_time=0.001, name="cache"))
    system = Server(workers=4, mean_service_time=0.010, name="web", calls=cache,
                    blocking=False)
    rate, seeds, means, hit_ratios = 200, 8, [], []
    for seed in range(1, seeds + 1):
        summary = simulate(system, Workload(arrival_rate=rate, requests=40_000, keys=1_000,
                                            key_skew=1.0, seed=seed)).summary
        means.append(summary["mean_latency"])
        hit_ratios.append(summary["hit_ratio"])
    hit = statistics.fmean(hit_ratios)
    expected = (theory.mmc_mean_response(rate, 0.010, 4)
                + hit * theory.mmc_mean_response(rate * hit, 0.001, 2)
                + (1 - hit) * theory.mmc_mean_response(rate * (1 - hit), 0.008, 2))
    mean = statistics.fmean(means)
    standard_error = statistics.stdev(means) / math.sqrt(seeds)
    assert abs(mean - expected) < 4 * standard_error + 0.01 * expected, (mean, expected)


def test_holding_a_worker_is_never_faster_and_the_same_when_workers_never_run_out():
    database = Server(workers=2, mean_service_time=0.008, name="database")
    workload = Workload(arrival_rate=150, requests=20_000, seed=2)
    few = {blocking: simulate(Server(workers=4, mean_service_time=0.010, name="web",
                                     calls=database, blocking=blocking), workload)
           for blocking in (True, False)}
    assert few[True].summary["mean_latency"] > few[False].summary["mean_latency"]
    plenty = {blocking: simulate(Server(workers=1_000, mean_service_time=0.010, name="web",
                                        calls=database, blocking=blocking), workload)
              for blocking in (True, False)}
    assert np.allclose(plenty[True].requests["latency"], plenty[False].requests["latency"])


def test_a_slow_database_backs_up_into_the_web_tier_unless_calls_time_out():
    """A database that can finish 50 requests a second, sent 100: blocking web workers (8)
    all end up waiting on it, and requests queue at the web tier for seconds. With a 50 ms
    timeout on the call, a worker is free again within 52 ms, so the web tier can take
    8 / 0.052 ≈ 150 a second and its own queue stays short; half the requests fail fast
    instead of all of them waiting."""
    slow = Server(workers=2, mean_service_time=0.040, name="database")
    workload = Workload(arrival_rate=100, duration=20, seed=4)
    stuck = simulate(web(slow, workers=8), workload).requests
    guarded = simulate(web(slow, workers=8, call_timeout=0.05), workload).requests
    assert stuck["time_in.web"].mean() > 1.0
    assert guarded["time_in.web"].mean() < 0.05
    assert guarded["latency"].max() < 0.5


@pytest.mark.parametrize("failing", ["web", "cache", "database", "replica"])
def test_every_request_ends_once_whichever_tier_fails(failing):
    down = ((2.0, 3.0), (6.0, 6.5))
    node = Server(workers=2, mean_service_time=0.004, write_service_time=0.008,
                  failures=down if failing == "replica" else ())
    database = Database(replicas=1, node=node, primary_failures=((8.0, 11.0),),
                        detection_delay=1.0)
    cache = Cache(max_items=50, database=database,
                  server=Server(workers=2, mean_service_time=0.001, name="cache",
                                failures=down if failing == "cache" else ()))
    front = Server(workers=4, mean_service_time=0.003, name="web", calls=cache,
                   call_timeout=0.2, failures=down if failing == "web" else ())
    system = Clients(Balancer.of(3, front, retries=True), timeout=0.5, retries=2,
                     backoff=0.05, jitter=True)
    result = simulate(system, Workload(arrival_rate=300, duration=12, read_share=0.8,
                                       keys=200, key_skew=1.0, seed=6))
    assert accounted(result)
    requests = result.requests
    ended = requests[requests["outcome"] != "in_flight"]
    assert (ended["finish"] >= ended["arrival"]).all()
    assert (requests.loc[requests["outcome"] == "ok", "ended_by"] != "-").all()
    assert result.summary["failed"] + result.summary["timed_out"] > 0


@pytest.mark.parametrize("build, name", [
    (lambda: Server(calls="database"), "calls"),
    (lambda: Server(calls=Server(name="db"), call_timeout=-1), "call_timeout"),
    (lambda: Server(call_timeout=1.0), "call_timeout"),
    (lambda: Server(calls=Server(name="db"), blocking=False, call_timeout=1.0), "call_timeout"),
    (lambda: Server(calls=Server(name="db"), blocking="yes"), "blocking"),
    (lambda: Cache(database=42), "database"),
    (lambda: Clients(calls=None), "calls"),
    (lambda: simulate(Server(name="web", calls=Server(name="web")), Trace(times=(0.0,))),
     "name"),
])
def test_bad_compositions_are_refused_by_name(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_a_balancer_counts_a_tier_its_servers_share_once():
    """Two web servers (500/s each) calling one database that can finish 100/s: the pool can
    take 100/s, not twice that."""
    workload = Workload(arrival_rate=50, requests=10, seed=1)
    assert Balancer.of(2, web(DATABASE)).capacity_for(workload) == pytest.approx(100)


@pytest.mark.parametrize("tier", ["cache", "database"])
def test_clients_may_retry_through_a_cache_or_a_database(tier):
    """Copies of one request inside a cache or a database at once (a client gave up and
    sent another) each carry their own answer: the run accounts for every request."""
    node = Server(workers=1, mean_service_time=0.010)
    behind = (Cache(max_items=5, database=Server(workers=1, mean_service_time=0.010,
                                                name="database"))
              if tier == "cache" else Database(replicas=1, node=node))
    result = simulate(Clients(behind, timeout=0.005, retries=2),
                      Workload(arrival_rate=150, duration=5, keys=50, read_share=0.8,
                               seed=3))
    assert accounted(result) and result.summary["timed_out"] > 0
    assert result.requests["attempts"].max() == 3


def test_a_copy_that_fails_after_its_client_gave_up_leaves_the_log_alone():
    """Both requests time out at 0.15 s (the first is in service for 1 s, the second waits
    behind it); the server fails at 0.5 s with their copies inside (a third request, at
    2 s, keeps the run going). The log still says the clients ended them."""
    server = Server(mean_service_time=0.010, failures=((0.5, 1.0),))
    result = simulate(Clients(server, timeout=0.15), Trace(times=(0.0, 0.0, 2.0),
                                                           sizes=(100, 1, 1)))
    log = rows(result)
    assert "fails" in set(result.events["event"])
    assert list(log["outcome"]) == ["timed_out", "timed_out", "ok"]
    assert list(log["ended_by"])[:2] == ["clients", "clients"]


def test_a_write_its_client_gave_up_on_is_never_reported_lost():
    from labsupport.core.log import RequestLog
    log = RequestLog(Trace(times=(0.0, 0.0)).generate(), clock=simpy.Environment())
    log.answer(0, "timed_out")
    log.answer(1, "ok")
    log.lost(0)
    log.lost(1)
    assert log.to_frame()["outcome"].tolist() == ["timed_out", "lost"]


def test_a_request_answered_twice_stops_the_run():
    from labsupport.core.log import RequestLog
    log = RequestLog(Trace(times=(0.0,)).generate(), clock=simpy.Environment())
    log.answer(0, "failed")
    with pytest.raises(RuntimeError, match="answered twice"):
        log.answer(0, "ok")
