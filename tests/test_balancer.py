"""The load balancer: policies, health checks, retries, theory and bad input."""

import math

import numpy as np
import pandas as pd
import pytest

from labsupport import Balancer, Server, Trace, Workload, simulate, theory

from helpers import accounted

ONE_SECOND = dict(mean_service_time=1.0, distribution="deterministic")
DEAD = (0.0, math.inf)


def servers_of(result):
    return result.requests["server"].astype(str).tolist()


# --- exact small cases ----------------------------------------------------------

def test_round_robin_takes_servers_in_turn_from_the_first():
    balancer = Balancer.of(3, Server(**ONE_SECOND), policy="round_robin")
    result = simulate(balancer, Trace(times=tuple(0.1 * i for i in range(7))))
    assert servers_of(result) == ["server-1", "server-2", "server-3"] * 2 + ["server-1"]


def test_least_connections_sends_to_the_server_with_fewest_requests_inside():
    slow = Server(mean_service_time=10.0, distribution="deterministic", name="slow")
    fast = Server(mean_service_time=0.5, distribution="deterministic", name="fast")
    balancer = Balancer(servers=(slow, fast), policy="least_connections")
    result = simulate(balancer, Trace(times=(0.0, 0.1, 1.0, 2.0, 3.0)))
    # slow keeps its first request for 10 s; fast is empty again before each arrival.
    assert servers_of(result) == ["slow", "fast", "fast", "fast", "fast"]


def test_health_checks_take_a_dead_server_out_and_bring_it_back():
    failing = Server(failures=((10.2, 20.5),), name="failing", **ONE_SECOND)
    steady = Server(name="steady", **ONE_SECOND)
    balancer = Balancer(servers=(failing, steady), health_check_interval=1.0,
                        unhealthy_after_checks=3)
    result = simulate(balancer, Trace(times=tuple(np.arange(0, 30, 0.5))))
    events = result.events.values.tolist()
    assert events == [[10.2, "failing", "fails"], [13.0, "failing", "taken out"],
                      [20.5, "failing", "recovers"], [21.0, "failing", "back in"]]
    requests = result.requests
    failed = requests[requests["outcome"] == "failed"]
    # Round robin sends every other request to it; those from 10.2 until 13.0 fail.
    assert failed["arrival"].min() >= 10.0 and failed["arrival"].max() < 13.0
    assert set(failed["server"].astype(str)) == {"failing"}
    after = requests[(requests["arrival"] > 13.0) & (requests["arrival"] < 21.0)]
    assert set(after["server"].astype(str)) == {"steady"}


def ticking_health_checks(self):
    """The checker as it was: wake every interval until the run ends (work per second)."""
    failed_checks = dict.fromkeys(self.servers, 0)
    while True:
        yield self.env.timeout(self.spec.health_check_interval)
        self.check_servers(failed_checks)


def random_failover_case(rng):
    """Up to 3 servers, each failing up to 4 times (some for good), checks at a random
    interval, arrivals on a quarter-second grid so they meet checks and failures head on."""
    servers = []
    for number in range(rng.randint(1, 3)):
        moment, windows = 0.0, []
        for _ in range(rng.randint(0, 4)):
            fail_at = moment + rng.choice([0, 0.5, 1, 2, 3, 5, 7])
            if windows and fail_at == moment:
                fail_at += 0.5
            moment = fail_at + rng.choice([0.5, 1, 2, 3, 4, 6, 10, math.inf])
            windows.append((fail_at, moment))
            if moment == math.inf:
                break
        servers.append(Server(mean_service_time=0.3, failures=tuple(windows),
                              name=f"server-{number}"))
    balancer = Balancer(servers=tuple(servers), unhealthy_after_checks=rng.randint(1, 4),
                        health_check_interval=rng.choice([0.25, 0.5, 1.0, 2.0]),
                        policy=rng.choice(["round_robin", "least_connections"]),
                        retries=rng.random() < 0.5)
    times = sorted(rng.randrange(120) / 4 + 0.0625 for _ in range(rng.randint(1, 60)))
    return balancer, Trace(times=tuple(times))


def test_skipping_idle_health_checks_changes_nothing_a_reader_sees(monkeypatch):
    # The checker wakes only when a check could change something (RunningBalancer.next_check).
    # 300 random failover runs give the same events and the same requests, to the
    # microsecond, as the checker that woke at every interval.
    import random

    from labsupport.components.balancer import RunningBalancer
    rng = random.Random(1)
    for _ in range(300):
        balancer, trace = random_failover_case(rng)
        skipping = simulate(balancer, trace, drain_time=40)
        with monkeypatch.context() as patch:
            patch.setattr(RunningBalancer, "health_checks", ticking_health_checks)
            ticking = simulate(balancer, trace, drain_time=40)
        assert skipping.events.values.tolist() == ticking.events.values.tolist(), balancer
        columns = ["finish", "outcome", "server"]
        assert skipping.requests[columns].astype(str).equals(
            ticking.requests[columns].astype(str)), balancer


def test_a_retry_sends_a_failed_request_to_another_server_once():
    dead = Server(failures=(DEAD,), name="dead", **ONE_SECOND)
    alive = Server(name="alive", **ONE_SECOND)
    balancer = Balancer(servers=(dead, alive), retries=True, health_check_interval=None)
    result = simulate(balancer, Trace(times=(0.0, 2.0, 4.0, 6.0)))
    requests = result.requests
    assert requests["outcome"].tolist() == ["ok"] * 4
    # Round robin alternates; each request sent to the dead server is retried on the next.
    assert requests["retried"].tolist() == [True, False, True, False]
    assert servers_of(result) == ["alive"] * 4


def test_with_every_server_out_the_balancer_fails_requests_itself():
    balancer = Balancer.of(2, Server(failures=((1.5, math.inf),), **ONE_SECOND),
                           health_check_interval=0.5, unhealthy_after_checks=1)
    result = simulate(balancer, Trace(times=(0.0, 3.0, 4.0)))
    assert result.requests["outcome"].tolist() == ["ok", "failed", "failed"]
    assert servers_of(result)[1:] == ["balancer", "balancer"]


# --- policies -------------------------------------------------------------------

def test_round_robin_sends_equal_counts_to_each_server():
    result = simulate(Balancer.of(4, policy="round_robin"),
                      Workload(arrival_rate=200, requests=10_001, seed=1))
    counts = result.requests["server"].value_counts()[["server-1", "server-2", "server-3",
                                                      "server-4"]]
    assert counts.max() - counts.min() <= 1


def test_weighted_round_robin_sends_counts_in_proportion_to_weights():
    balancer = Balancer.of(3, Server(mean_service_time=0.01), policy="weighted_round_robin",
                           weights=(3, 1, 2))
    result = simulate(balancer, Workload(arrival_rate=100, requests=6_000, seed=1))
    counts = result.requests["server"].value_counts()
    assert [counts["server-1"], counts["server-2"], counts["server-3"]] == [3000, 1000, 2000]


@pytest.mark.parametrize("servers", [2, 4])
def test_random_routing_behaves_like_independent_mm1_queues(servers):
    """Random routing splits a Poisson stream into independent Poisson streams, so each
    server is an M/M/1 queue at 1/N of the rate. Six seeds of 40,000 requests at 70 %
    load: the mean must lie within four standard errors of theory (measured from the
    seeds' spread, about 1 % here) and within 5 %."""
    service, load = 0.01, 0.7
    rate = load * servers / service
    means = [simulate(Balancer.of(servers, Server(mean_service_time=service), policy="random"),
                      Workload(arrival_rate=rate, requests=40_000, seed=seed)
                      ).summary["mean_latency"] for seed in range(1, 7)]
    expected = theory.mm1_mean_response(rate / servers, service)
    standard_error = np.std(means, ddof=1) / math.sqrt(len(means))
    assert abs(np.mean(means) - expected) < 4 * standard_error
    assert np.mean(means) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("better", ["least_connections", "two_choices"])
def test_at_high_load_looking_at_the_servers_beats_random(better):
    workload = Workload(arrival_rate=0.9 * 4 / 0.01, requests=50_000, seed=2)
    summaries = {policy: simulate(Balancer.of(4, Server(mean_service_time=0.01),
                                              policy=policy), workload).summary
                 for policy in ("random", better)}
    assert summaries[better]["mean_latency"] < 0.7 * summaries["random"]["mean_latency"]
    assert summaries[better]["p99_latency"] < 0.7 * summaries["random"]["p99_latency"]


def test_a_slow_server_hurts_round_robin_more_than_least_connections():
    pool = (Server(mean_service_time=0.01, speed=0.5, name="slow"),
            Server(mean_service_time=0.01, name="fast-1"),
            Server(mean_service_time=0.01, name="fast-2"))
    workload = Workload(arrival_rate=0.8 * 250, requests=40_000, seed=3)
    p99 = {policy: simulate(Balancer(servers=pool, policy=policy), workload)
           .summary["p99_latency"] for policy in ("round_robin", "least_connections")}
    assert p99["least_connections"] < 0.5 * p99["round_robin"]


def test_fast_failures_attract_least_connections_traffic_without_health_checks():
    pool = (Server(mean_service_time=0.01, name="a"), Server(mean_service_time=0.01, name="b"),
            Server(mean_service_time=0.01, failures=(DEAD,), name="dead"))
    workload = Workload(arrival_rate=150, duration=60, seed=1)
    shares = {}
    for policy in ("round_robin", "least_connections"):
        result = simulate(Balancer(servers=pool, policy=policy, health_check_interval=None),
                          workload)
        shares[policy] = result.summary["failed"] / result.summary["requests"]
    assert shares["round_robin"] == pytest.approx(1 / 3, abs=0.01)
    assert shares["least_connections"] > 0.4  # well above its 1/3 share


# --- failover accounting ----------------------------------------------------------

@pytest.mark.parametrize("policy", ["round_robin", "random", "least_connections",
                                    "two_choices"])
@pytest.mark.parametrize("retries", [False, True])
def test_failover_accounts_for_every_request(policy, retries):
    pool = (Server(mean_service_time=0.02, failures=((5.0, 12.0),), name="flaky"),
            Server(mean_service_time=0.02, queue_limit=20, name="b"),
            Server(mean_service_time=0.02, name="c"))
    result = simulate(Balancer(servers=pool, policy=policy, retries=retries),
                      Workload(arrival_rate=100, duration=20, seed=4))
    assert accounted(result)
    assert result.summary["in_flight"] == 0
    if retries:
        assert result.summary["failed"] == 0


def test_with_retries_and_instant_detection_nothing_fails():
    pool = (Server(mean_service_time=0.01, failures=((3.0, 6.0), (9.0, 9.5)), name="a"),
            Server(mean_service_time=0.01, name="b"), Server(mean_service_time=0.01, name="c"))
    balancer = Balancer(servers=pool, policy="least_connections", retries=True,
                        health_check_interval=0.001, unhealthy_after_checks=1)
    result = simulate(balancer, Workload(arrival_rate=120, duration=15, seed=5))
    assert result.summary["failed"] == 0 and accounted(result)
    assert result.requests["retried"].sum() > 0  # those inside "a" when it failed


def test_random_policies_are_seeded():
    balancer = Balancer.of(3, policy="two_choices")
    first, again = (simulate(balancer, Workload(arrival_rate=80, duration=10, seed=9))
                    for _ in range(2))
    pd.testing.assert_frame_equal(first.requests, again.requests)


# --- bad input ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    (dict(servers=()), "servers"),
    (dict(servers=(1, 2)), "servers"),
    (dict(servers=(Server(),), policy="fastest"), "policy"),
    (dict(servers=(Server(), Server()), policy="weighted_round_robin"), "weights"),
    (dict(servers=(Server(), Server()), policy="weighted_round_robin", weights=(1,)),
     "weights"),
    (dict(servers=(Server(), Server()), policy="weighted_round_robin", weights=(1, -1)),
     "weights"),
    (dict(servers=(Server(),), weights=(1,)), "weights"),
    (dict(servers=(Server(),), health_check_interval=0), "health_check_interval"),
    (dict(servers=(Server(),), health_check_interval=-1.0), "health_check_interval"),
    (dict(servers=(Server(),), unhealthy_after_checks=0), "unhealthy_after_checks"),
    (dict(servers=(Server(),), retries="yes"), "retries"),
])
def test_balancer_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Balancer(**kwargs)


def test_zero_servers_is_rejected_by_name():
    with pytest.raises(ValueError, match="count"):
        Balancer.of(0)
