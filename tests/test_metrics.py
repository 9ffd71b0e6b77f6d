"""Metrics read from the request log: summary, busy share, per-time-bin table."""

import math

import pytest

from labsupport import Server, Trace, simulate
from labsupport.core.metrics import headline, over_time

ONE_SECOND = dict(mean_service_time=1.0, distribution="deterministic")


def test_summary_percentiles_count_served_requests_only():
    server = Server(queue_limit=0, **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0, 0.5, 2.0, 2.2)))
    # ok at 0 and 2 (latency 1 s each); 0.5 and 2.2 dropped at once (latency 0).
    assert result.summary["ok"] == 2 and result.summary["dropped"] == 2
    assert result.summary["mean_latency"] == 1.0
    assert result.summary["p99_latency"] == 1.0


def test_utilisation_counts_service_interrupted_by_a_failure():
    server = Server(workers=2, failures=((0.5, 10.0),), **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0, 0.2, 20.0)))
    # Busy 0.5 + 0.3 s before the failure and 1 s after recovery, over 21 s, 2 workers.
    assert result.end_time == 21.0
    assert result.summary["utilisation.server"] == pytest.approx(1.8 / (2 * 21.0))


def test_a_service_cut_short_by_a_failure_counts_only_what_was_served():
    """A 10 s request fails with its server at 0.5 s, and the run ends then: the worker
    was busy the whole half second (it once counted the unserved part twice)."""
    server = Server(failures=((0.5, math.inf),), **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0,), sizes=(10.0,)))
    assert result.end_time == 0.5
    assert result.summary["utilisation.server"] == pytest.approx(1.0)


def test_over_time_bins_by_arrival_and_counts_each_outcome():
    server = Server(failures=((2.2, 3.0),), **ONE_SECOND)
    result = simulate(server, Trace(times=(0.0, 0.5, 2.5, 3.5)))
    table = over_time(result.requests, bin_seconds=1.0).set_index("time")
    assert table.loc[0.0, "ok"] == 2 and table.loc[2.0, "failed"] == 1
    assert table.loc[0.0, "p50"] == pytest.approx(1.25)  # latencies 1.0 and 1.5
    assert math.isnan(table.loc[2.0, "p50"])  # nothing served from that bin
    assert table[["ok", "dropped", "failed", "in_flight"]].to_numpy().sum() == 4


def test_headline_says_unstable_when_offered_more_than_capacity():
    result = simulate(Server(**ONE_SECOND), Trace(times=(0.0, 0.1, 0.2, 0.3)))
    assert "UNSTABLE" in headline(result.summary)


def test_throughput_counts_requests_served_while_arrivals_lasted():
    from labsupport import Workload
    overloaded = simulate(Server(mean_service_time=0.01), Workload(arrival_rate=300, duration=20))
    assert overloaded.summary["throughput"] == pytest.approx(100, rel=0.03)  # capacity
    easy = simulate(Server(mean_service_time=0.01), Workload(arrival_rate=50, duration=200))
    assert easy.summary["throughput"] == pytest.approx(50, rel=0.05)


def test_read_percentiles_leave_out_the_writes():
    # 99 reads of one cached key (1 ms each after the first miss) and one write (100 ms):
    # the p99 of all requests is pulled towards the write, the p99 of the reads is not.
    from labsupport import Cache, Server
    cache = Cache(server=Server(mean_service_time=0.001, distribution="deterministic",
                                name="cache"),
                  database=Server(mean_service_time=0.1, distribution="deterministic",
                                  name="database"))
    trace = Trace(times=tuple(float(t) for t in range(100)),
                  writes=tuple(t == 50 for t in range(100)), keys=(1,) * 100)
    summary = simulate(cache, trace).summary
    assert summary["p50_read_latency"] == pytest.approx(0.001)
    assert summary["p99_read_latency"] < summary["p99_latency"]
    writes_only = simulate(Server(), Trace(times=(0.0, 1.0), writes=(True, True))).summary
    assert math.isnan(writes_only["p99_read_latency"]) and writes_only["ok"] == 2
