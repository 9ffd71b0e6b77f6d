"""Clients that time out and retry: exact small cases, accounting, the collapse, bad input."""

import math

import numpy as np
import pytest

from labsupport import Clients, Server, Trace, Workload, simulate
from labsupport.components.clients import BUDGET_BANK

from helpers import accounted, rows

SERVER = Server(workers=1, mean_service_time=0.010)  # a Trace's sizes are its requests' sizes


def test_clients_that_never_give_up_change_nothing():
    """No timeout and no retries: the same run as the bare server, request for request."""
    workload = Workload(arrival_rate=90, requests=5_000, seed=4)
    server = Server(workers=2, mean_service_time=0.02, queue_limit=5)
    bare = simulate(server, workload).requests
    wrapped = simulate(Clients(server, timeout=math.inf), workload).requests
    for column in ("start", "finish", "outcome", "attempts"):
        assert wrapped[column].equals(bare[column]), column


def test_a_timed_out_copy_still_takes_the_servers_time():
    """Request 1 waits behind a 0.1 s request, starts at 0.1 s and is given up at 0.151 s;
    the server still serves its copy until 0.2 s, so request 2 (at 0.14 s) starts only then."""
    trace = Trace(times=(0.0, 0.001, 0.14), sizes=(10, 10, 1))
    log = rows(simulate(Clients(SERVER, timeout=0.15), trace))
    assert list(log["outcome"]) == ["ok", "timed_out", "ok"]
    assert log.loc[1, "finish"] == pytest.approx(0.151)
    assert log.loc[2, "start"] == pytest.approx(0.2)  # after the abandoned copy
    assert log.loc[2, "finish"] == pytest.approx(0.21)


def test_a_late_answer_to_an_abandoned_attempt_does_not_count():
    """Request 1 (20 ms) waits behind a 140 ms request, starts at 0.14 s and is given up at
    0.15 s, then retried at once. The answer to its first copy comes at 0.16 s, while the
    client awaits the second: it does not count. The second is served from 0.16 to 0.18 s."""
    trace = Trace(times=(0.0, 0.0), sizes=(14, 2))
    log = rows(simulate(Clients(SERVER, timeout=0.15, retries=2), trace))
    assert log.loc[0, "outcome"] == "ok" and log.loc[0, "attempts"] == 1
    assert log.loc[1, "outcome"] == "ok"
    assert log.loc[1, "attempts"] == 2
    assert log.loc[1, "start"] == pytest.approx(0.16)
    assert log.loc[1, "finish"] == pytest.approx(0.18)


def test_a_retry_turned_away_while_an_older_copy_waits_is_the_one_turned_away():
    """One worker, room for one waiting. Request 1 waits behind a 0.3 s request and times out
    at 0.15 s; its retry finds the queue full (its own first copy holds the place) and is
    turned away at once: with no retries left, it ends dropped then, not when the copy is
    served."""
    server = Server(workers=1, mean_service_time=0.010, queue_limit=1)
    log = rows(simulate(Clients(server, timeout=0.15, retries=1),
                        Trace(times=(0.0, 0.0), sizes=(30, 1))))
    assert log.loc[1, "outcome"] == "dropped" and log.loc[1, "attempts"] == 2
    assert log.loc[1, "finish"] == pytest.approx(0.15)


def test_a_turned_away_request_is_retried_after_its_backoff():
    """No queue: the second of two simultaneous requests is turned away; retried at once it is
    turned away again; after a 50 ms backoff the server is free and serves it."""
    trace = Trace(times=(0.0, 0.0), sizes=(1, 1))
    server = Server(workers=1, mean_service_time=0.010, queue_limit=0)
    at_once = rows(simulate(Clients(server, retries=2), trace))
    assert at_once.loc[1, "outcome"] == "dropped" and at_once.loc[1, "attempts"] == 3
    backed_off = rows(simulate(Clients(server, retries=2, backoff=0.05), trace))
    assert backed_off.loc[1, "outcome"] == "ok" and backed_off.loc[1, "attempts"] == 2
    assert backed_off.loc[1, "finish"] == pytest.approx(0.06)


def test_backoff_doubles():
    """A server down from 0 to 1 s: attempts at 0, 0.1, 0.3 and 0.7 s all fail; a fifth, at
    1.5 s, is served."""
    server = Server(mean_service_time=0.010, failures=((0.0, 1.0),))
    trace = Trace(times=(0.0,))
    four = rows(simulate(Clients(server, retries=3, backoff=0.1), trace))
    assert four.loc[0, "outcome"] == "failed" and four.loc[0, "finish"] == pytest.approx(0.7)
    five = rows(simulate(Clients(server, retries=4, backoff=0.1), trace))
    assert five.loc[0, "outcome"] == "ok" and five.loc[0, "finish"] == pytest.approx(1.51)


def test_jitter_waits_a_random_part_of_the_backoff_same_seed_same_waits():
    """Full jitter: each wait lies between 0 and the backoff, so 4 attempts against a dead
    server end before 0.7 s (the sum without jitter); the same seed gives the same waits."""
    server = Server(mean_service_time=0.010, failures=((0.0, math.inf),))
    workload = Workload(arrival_rate=1, requests=200, seed=8)
    clients = Clients(server, retries=3, backoff=0.1, jitter=True)
    first, again = simulate(clients, workload).requests, simulate(clients, workload).requests
    given_up = first["finish"] - first["arrival"]
    assert (first["outcome"] == "failed").all() and (first["attempts"] == 4).all()
    assert given_up.max() < 0.7 and given_up.min() > 0
    assert given_up.std() > 0.05  # really random: the sum of three uniform waits
    assert first["finish"].equals(again["finish"])


def test_a_retry_budget_caps_the_retries():
    """With a budget of 10 %, retries are at most a tenth of the requests (plus the tokens
    the bank may hold), however many requests fail."""
    server = Server(mean_service_time=0.010, failures=((0.0, math.inf),))
    workload = Workload(arrival_rate=100, requests=10_000, seed=2)
    result = simulate(Clients(server, retries=3, retry_budget=0.1), workload)
    retries = result.summary["attempts"] - 10_000
    assert 0.1 * 10_000 - BUDGET_BANK <= retries <= 0.1 * 10_000 + BUDGET_BANK
    assert simulate(Clients(server, retries=3), workload).summary["attempts"] == 40_000


def test_immediate_retries_collapse_a_server_that_copes_without_them():
    """One server at 70 % load, clients that wait 0.2 s (20 service times). Without retries
    at most 1 % time out. With three immediate retries, one unlucky burst is enough: the
    abandoned copies keep the queue long, every time-out adds a request, and within the
    run fewer than half are served. A budget of 10 % keeps the server out of that state."""
    server = Server(workers=1, mean_service_time=0.010)
    workload = Workload(arrival_rate=70, duration=300, seed=1)
    served = {}
    for name, clients in {"none": Clients(server, timeout=0.2),
                          "immediate": Clients(server, timeout=0.2, retries=3),
                          "budget": Clients(server, timeout=0.2, retries=3,
                                            retry_budget=0.1)}.items():
        result = simulate(clients, workload)
        assert accounted(result)
        served[name] = result.summary["ok"] / result.summary["requests"]
        if name == "immediate":
            assert result.summary["attempt_load"] > 1 and result.summary["unstable"]
    assert served["none"] > 0.99 and served["budget"] > 0.99
    assert served["immediate"] < 0.5


def test_every_request_ends_once_under_failures_drops_and_timeouts():
    server = Server(workers=2, mean_service_time=0.02, queue_limit=10,
                    failures=((5.0, 6.0), (20.0, 20.5)))
    workload = Workload(arrival_rate=120, duration=40, seed=5)
    for clients in (Clients(server, timeout=0.1, retries=3),
                    Clients(server, timeout=0.05, retries=2, backoff=0.02, jitter=True),
                    Clients(server, timeout=math.inf, retries=1, retry_budget=0.5)):
        result = simulate(clients, workload)
        requests = result.requests
        assert accounted(result) and result.summary["in_flight"] == 0
        assert requests["attempts"].between(1, clients.retries + 1).all()
        ended = requests[requests["outcome"] != "in_flight"]
        assert (ended["finish"] >= ended["arrival"]).all()
        assert not (requests["start"] > requests["finish"]).any()  # a late copy is no start
        served = requests[requests["outcome"] == "ok"]
        assert (served["latency"] <= clients.timeout * served["attempts"]
                + clients.backoff * (2 ** served["attempts"]) + 1e-9).all()
        assert not np.isnan(served["start"]).any()


@pytest.mark.parametrize("options, name", [
    ({"calls": "server"}, "calls"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": -1}, "timeout"),
    ({"timeout": float("nan")}, "timeout"),
    ({"retries": -1}, "retries"),
    ({"retries": 11}, "retries"),
    ({"retries": 1.5}, "retries"),
    ({"backoff": -0.1}, "backoff"),
    ({"backoff": math.inf}, "backoff"),
    ({"jitter": "yes"}, "jitter"),
    ({"retry_budget": -0.1}, "retry_budget"),
    ({"retry_budget": 11}, "retry_budget"),
])
def test_bad_clients_are_refused_by_name(options, name):
    with pytest.raises(ValueError, match=name):
        Clients(**{"calls": SERVER, **options})


def test_too_many_attempts_are_refused():
    with pytest.raises(ValueError, match="retries"):
        simulate(Clients(SERVER, retries=10), Workload(arrival_rate=1e6, requests=2_000_000))
