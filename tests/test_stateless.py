"""The stateless web tier: traffic that changes over time (thinning), sticky sessions against
a shared session store, adding and removing servers during a run, and the autoscaler's lag;
bad input by name."""

import math

import numpy as np
import pytest

from labsupport import Balancer, Server, Trace, Workload, simulate
from labsupport.components.autoscaler import (Autoscaler, Schedule, fleet_over_time,
                                              scaling_report, server_hours)
from labsupport.core.workload import day_profile, profile_share, with_spike

from helpers import accounted, rows

# --- traffic that changes over time ---------------------------------------------------------

# A ramp up, a ramp down, a step up, a plateau and a ramp to nothing: every kind of piece.
PROFILE = ((0, 0.1), (1000, 1.0), (2000, 0.3), (2000, 0.8), (3000, 0.8), (4000, 0.0))


def expected_per_bin(profile, peak, edges):
    """The integral of the rate over each bin: exact by the trapezoid rule, since the
    bins' edges include every corner of the profile (it is straight between them)."""
    fine = np.linspace(edges[0], edges[-1], 100 * (len(edges) - 1) + 1)
    rate = peak * np.array([profile_share(profile, time) for time in fine])
    areas = (rate[1:] + rate[:-1]) / 2 * np.diff(fine)
    return areas.reshape(len(edges) - 1, 100).sum(axis=1)


def test_arrivals_per_interval_match_the_integral_of_the_rate():
    # 40 bins of 100 s, 1,000 to 10,000 expected arrivals each (Poisson: SE = sqrt of the
    # mean). Thinning is exact, so each count is Poisson with the bin's integral as mean:
    # allow 4.5 standard errors per bin (a chance of about 3 in 10,000 that one of 40
    # exceeds it by luck), and the sum of squared z-scores within chi-square(40)'s 99.9 %.
    workload = Workload(arrival_rate=100, duration=4000, rate_profile=PROFILE, seed=7)
    edges = np.arange(0, 4001, 100.0)
    counts, _ = np.histogram(workload.generate().time, bins=edges)
    expected = expected_per_bin(PROFILE, 100, edges)
    z = (counts - expected) / np.sqrt(np.maximum(expected, 1e-9))
    assert np.abs(z[expected > 0]).max() < 4.5
    assert (z[expected > 0] ** 2).sum() < 73.4  # chi-square, 40 degrees of freedom, 99.9 %
    assert counts[-1] < expected[-1] + 4.5 * math.sqrt(expected[-1])


def test_a_profile_as_a_function_draws_the_same_requests_as_the_same_table():
    table = Workload(arrival_rate=50, duration=4000, rate_profile=PROFILE, seed=3).generate()
    function = Workload(arrival_rate=50, duration=4000, seed=3,
                        rate_profile=lambda time: profile_share(PROFILE, time)).generate()
    assert np.array_equal(table.time, function.time) and len(table) > 1000


def test_a_higher_profile_keeps_every_request_a_lower_one_kept():
    # common random numbers through thinning: the same candidates and the same draws, so a
    # request kept by both profiles is the same request (size, kind, key, user)
    options = dict(arrival_rate=50, duration=4000, seed=5, keys=100, key_skew=1.0,
                   clients=300, client_skew=0.5, read_share=0.8)
    low = Workload(rate_profile=PROFILE, **options).generate()
    higher = tuple((time, min(1.0, share + 0.1)) for time, share in PROFILE)
    high = Workload(rate_profile=higher, **options).generate()
    assert set(low.time.tolist()) < set(high.time.tolist())
    shared = np.isin(high.time, low.time)
    for column in ("size", "is_write", "key", "client"):
        assert np.array_equal(getattr(high, column)[shared], getattr(low, column))
    flat = Workload(arrival_rate=50, duration=4000, seed=5).generate()
    assert set(high.time.tolist()) < set(flat.time.tolist())


RECORDED_TIMES = [0.336531, 0.657823, 0.773432]
RECORDED_CLIENTS = [4, 1, 2, 3, 0, 4, 2, 1]


def test_without_a_profile_and_without_skew_the_draws_are_what_they_were():
    # the same seed, the same users: recorded at 4cc0e33, before profiles and skewed users
    arrivals = Workload(arrival_rate=10, duration=50, clients=5, seed=11).generate()
    assert arrivals.time[:3].round(6).tolist() == RECORDED_TIMES
    assert arrivals.client[:8].tolist() == RECORDED_CLIENTS
    again = Workload(arrival_rate=10, duration=50, clients=5, seed=11,
                     rate_profile=((0, 1.0),)).generate()
    assert np.array_equal(arrivals.time, again.time)
    assert np.array_equal(arrivals.client, again.client)


def test_day_profile_and_spike():
    day = day_profile(trough_share=0.2, peak_hour=20)
    assert profile_share(day, 20 * 3600) == pytest.approx(1.0)
    assert profile_share(day, 8 * 3600) == pytest.approx(0.2)
    spiked = with_spike(day, start=10 * 3600, duration=600, share=0.9)
    before, during = profile_share(spiked, 10 * 3600 - 1), profile_share(spiked, 10 * 3600)
    assert before == pytest.approx(profile_share(day, 10 * 3600 - 1)) and during == 0.9
    assert profile_share(spiked, 10 * 3600 + 600) == pytest.approx(
        profile_share(day, 10 * 3600 + 600))
    rate = Workload(arrival_rate=20, duration=86400, rate_profile=spiked).rate_at(
        [10 * 3600 + 300])
    assert rate.tolist() == [pytest.approx(18.0)]


def test_heavy_users_send_their_zipf_share():
    arrivals = Workload(arrival_rate=1000, duration=50, clients=10, client_skew=1.0,
                        seed=2).generate()
    shares = np.bincount(arrivals.client, minlength=10) / len(arrivals)
    zipf = 1 / np.arange(1, 11)
    # 50,000 requests: a share's SE is at most sqrt(0.35 * 0.65 / 50,000) = 0.0021
    assert np.abs(shares - zipf / zipf.sum()).max() < 4 * 0.0022


# --- sticky sessions against a shared store -------------------------------------------------

WEB = Server(workers=1, mean_service_time=0.01, name="web", keeps_sessions=True)
USERS = Workload(arrival_rate=200, duration=60, clients=500, seed=2)


def test_sticky_sends_every_request_of_a_user_to_one_server():
    result = simulate(Balancer(servers=(WEB,) * 4, policy="sticky"), USERS)
    assert result.requests.groupby("client")["server"].nunique().max() == 1
    assert result.summary["sessions_lost"] == 0 and accounted(result)


def test_a_stickiness_cookie_deals_users_out_in_turn_and_keeps_them_there():
    result = simulate(Balancer(servers=(WEB,) * 4, policy="sticky_cookie"), USERS)
    log = result.requests
    assert log.groupby("client")["server"].nunique().max() == 1
    users = log.groupby("server", observed=True)["client"].nunique()
    assert users.max() - users.min() <= 1 and users.sum() == log["client"].nunique()
    assert result.summary["sessions_lost"] == 0 and accounted(result)


@pytest.mark.parametrize("policy", ["sticky", "sticky_cookie"])
def test_a_server_added_to_a_sticky_tier_moves_users_by_hash_and_none_by_cookie(policy):
    # a fifth server at 30 s: consistent hashing gives it about a fifth of the users, away
    # from their sessions; a cookie keeps everyone where they are, so it gets only new users
    result = simulate(Balancer(servers=(WEB,) * 4, policy=policy,
                               scaling=Schedule(((30, 5),))), USERS)
    after = result.requests.query("arrival > 40")
    share = (after["server"] == "web-5").mean()
    moved = result.summary["sessions_lost"]
    if policy == "sticky":
        assert 0.1 < share < 0.3 and moved > 50
    else:
        assert share < 0.01 and moved == 0
    assert result.summary["failed"] == 0


@pytest.mark.parametrize("policy", ["sticky", "sticky_cookie"])
def test_either_sticky_policy_loses_exactly_the_failed_servers_sessions(policy):
    result = simulate(Balancer(servers=(WEB, WEB, failing(WEB, 30.0), WEB), policy=policy),
                      USERS)
    log = rows(result)
    held = set(log.loc[(log["server"] == "web-3") & (log["finish"] <= 30), "client"])
    assert result.sessions_lost["why"].tolist() == ["failed"]
    assert result.summary["sessions_lost"] == len(held) > 60


def test_a_cookie_retry_deals_users_out_in_turn_and_a_server_that_leaves_frees_its_cookies():
    # retries on, web-3 failed for good: its users are dealt among the other three, not all
    # piled on the next one
    servers = (WEB, WEB, failing(WEB, 30.0), WEB)
    result = simulate(Balancer(servers=servers, policy="sticky_cookie", retries=True), USERS)
    late = result.requests.query("arrival > 40").groupby("server", observed=True)["client"]
    users = late.nunique()
    users = users[users > 0]
    assert len(users) == 3 and users.max() - users.min() < 0.1 * users.mean()
    # a spare that leaves and is launched again starts with no users of its own: their
    # cookies were dropped when it left, and they were dealt elsewhere
    result = simulate(Balancer(servers=(WEB,) * 2, policy="sticky_cookie",
                               scaling=Schedule(((1, 3), (20, 2), (40, 3)))),
                      Workload(arrival_rate=200, duration=60, clients=100, seed=1))
    log = result.requests
    before = set(log.query("server == 'web-3' and arrival < 20")["client"])
    after = set(log.query("server == 'web-3' and arrival > 40")["client"])
    assert before and not (before & after)


def test_a_heavy_user_weighs_on_their_one_server():
    heavy = Workload(arrival_rate=200, duration=60, clients=20, client_skew=1.5, seed=4)
    sticky = simulate(Balancer(servers=(WEB,) * 4, policy="sticky"), heavy).requests
    spread = simulate(Balancer(servers=(WEB,) * 4), heavy).requests
    heaviest = (sticky["client"] == 0).mean()
    assert heaviest > 0.3  # Zipf 1.5 over 20 users: about 0.4
    assert sticky["server"].value_counts(normalize=True).max() >= heaviest
    assert spread["server"].value_counts(normalize=True).max() < 0.26  # 12,000 requests


def failing(server, at):
    return Server(**{**server.__dict__, "failures": ((at, math.inf),)})


def test_sticky_loses_the_failed_servers_sessions_and_a_shared_store_none():
    fail_at = 30.0
    servers = (WEB, WEB, failing(WEB, fail_at), WEB)
    sticky = simulate(Balancer(servers=servers, policy="sticky"), USERS)
    log = rows(sticky)
    held = set(log.loc[(log["server"] == "web-3") & (log["outcome"] == "ok")
                       & (log["finish"] <= fail_at), "client"])
    lost = sticky.sessions_lost
    assert len(held) > 60  # about a quarter of 500 users
    assert lost["sessions"].sum() == sticky.summary["sessions_lost"] == len(held)
    assert lost[["time", "server", "why"]].values.tolist() == [[fail_at, "web-3", "failed"]]
    store = Server(workers=4, mean_service_time=0.0005, name="session-store",
                   keeps_sessions=True)
    stateless = Server(workers=1, mean_service_time=0.01, name="web", calls=store)
    shared = simulate(Balancer(servers=(stateless, stateless, failing(stateless, fail_at),
                                        stateless)), USERS)
    assert shared.summary["sessions_lost"] == 0 and shared.summary["failed"] > 0
    assert accounted(sticky) and accounted(shared)


def test_a_sticky_retry_goes_where_the_ring_will_send_the_user_so_no_one_moves_twice():
    # retries on: a request that meets the failed server before the balancer takes it out
    # goes to the next server on the user's ring, where the user's later requests go too
    servers = (WEB, WEB, failing(WEB, 30.0), WEB)
    result = simulate(Balancer(servers=servers, policy="sticky", retries=True), USERS)
    log = rows(result)
    held = set(log.loc[(log["server"] == "web-3") & (log["finish"] <= 30), "client"])
    assert result.sessions_lost["why"].tolist() == ["failed"]
    assert result.summary["sessions_lost"] == len(held) > 60
    retried = log[log["retried"]]
    assert len(retried) > 0 and (retried["outcome"] == "ok").all()
    after = log[log["arrival"] > 40].groupby("client")["server"].first()
    assert all(after[client] == server for client, server
               in retried.groupby("client")["server"].last().items() if client in after)


def test_a_failed_store_loses_every_session_it_holds():
    store = Server(workers=4, mean_service_time=0.0005, name="session-store",
                   keeps_sessions=True, failures=((30, math.inf),))
    web = Server(workers=1, mean_service_time=0.01, name="web", calls=store)
    result = simulate(Balancer.of(4, web), USERS)
    users_before = rows(result).query("finish <= 30 and outcome == 'ok'")["client"].nunique()
    assert result.summary["sessions_lost"] == users_before > 400


def test_a_sticky_server_back_in_rotation_takes_its_users_back_and_logs_them_out_again():
    servers = (WEB, WEB, Server(**{**WEB.__dict__, "failures": ((20, 30),)}), WEB)
    result = simulate(Balancer(servers=servers, policy="sticky"), USERS)
    why = result.sessions_lost.groupby("why")["sessions"].sum()
    assert why["failed"] > 60 and why["moved"] > 60  # their new sessions, on the others


# --- adding and removing servers ------------------------------------------------------------

def test_scale_in_drains_a_server_without_failing_a_request():
    # one-second requests, two at a time, round robin over two servers: at 2.5 s the
    # newest (web-2) leaves the rotation with requests queued, and serves every one first
    web = Server(workers=1, mean_service_time=1.0, name="web")
    trace = Trace(times=tuple(0.1 * i for i in range(40)))
    result = simulate(Balancer(servers=(web, web), scaling=Schedule(((2.5, 1),))), trace,
                      drain_time=100)
    log = rows(result)
    assert (log["outcome"] == "ok").all() and accounted(result)
    second = log[log["server"] == "web-2"]
    assert (second["arrival"] < 2.5).all() and second["finish"].max() > 2.5
    left = result.events.query("event == 'left the fleet'")
    assert left["time"].tolist() == [second["finish"].max()]
    fleet = fleet_over_time(result.events, result.end_time)
    assert fleet.query("time == 2.5")["in_service"].tolist() == [1]


def test_a_schedule_adds_servers_after_their_boot_and_counts_server_hours():
    web = Server(workers=1, mean_service_time=0.01, name="web")
    workload = Workload(arrival_rate=50, duration=3600, seed=1)
    result = simulate(Balancer(servers=(web,), scaling=Schedule(((600, 3), (1800, 2)),
                                                                 boot_time=120)), workload)
    events = result.events
    assert events.query("event == 'in service from the start'")["time"].tolist() == [0]
    assert events.query("event == 'launched'")["time"].tolist() == [600, 600]
    assert events.query("event == 'in service'")["time"].tolist() == [720, 720]
    # paid: 1 server 0-600 s, 3 to 1800 s, then 2 (the newest drained in milliseconds)
    end = result.end_time
    expected = (600 + 3 * 1200 + 2 * (end - 1800)) / 3600
    assert server_hours(events, end) == pytest.approx(expected, abs=0.001)
    assert (result.requests["outcome"] == "ok").all() and accounted(result)


def test_sticky_scale_in_logs_out_the_users_of_the_server_that_leaves():
    result = simulate(Balancer(servers=(WEB,) * 4, policy="sticky",
                               scaling=Schedule(((30, 3),))), USERS)
    lost = result.sessions_lost
    log = rows(result)
    assert lost.query("why == 'left the fleet'")["server"].tolist() == ["web-4"]
    held = set(log.loc[(log["server"] == "web-4") & (log["finish"] <= 30), "client"])
    # each is lost once: when web-4 leaves, or before, when its user's next request, sent
    # to another server, is served while web-4 still drains
    assert lost.query("server == 'web-4'")["sessions"].sum() == len(held) > 60
    assert set(lost.query("server == 'web-4'")["why"]) <= {"left the fleet", "moved"}
    assert result.summary["failed"] == 0


def test_a_retired_starting_server_is_never_launched_again_only_spares():
    # web-2 fails at 100-200 s and for good from 300 s; it is retired at 150 s, and the
    # server launched at 320 s is a fresh copy, up and serving, not web-2 back from the dead
    web = Server(workers=1, mean_service_time=0.01, name="web")
    flaky = Server(workers=1, mean_service_time=0.01, name="web",
                   failures=((100, 200), (300, math.inf)))
    result = simulate(Balancer(servers=(web, flaky), health_check_interval=5,
                               scaling=Schedule(((150, 1), (320, 2)))),
                      Workload(arrival_rate=20, duration=1000, seed=1))
    launched = result.events.query("event == 'launched'")["component"].tolist()
    assert launched == ["web-3"]
    assert result.requests.query("arrival > 330")["outcome"].eq("ok").all()
    assert accounted(result)


def test_scaling_in_while_servers_boot_calls_off_their_launch():
    web = Server(workers=1, mean_service_time=0.01, name="web")
    workload = Workload(arrival_rate=20, duration=20, seed=1)
    for start, schedule, left in ((1, ((5, 3), (5.5, 1)), 1), (2, ((5, 4), (5.5, 2)), 2)):
        result = simulate(Balancer(servers=(web,) * start,
                                   scaling=Schedule(schedule, boot_time=1)), workload)
        fleet = fleet_over_time(result.events, result.end_time)
        assert fleet["in_service"].iloc[-1] == fleet["paid"].iloc[-1] == left
        assert result.events.query("event == 'draining'").empty  # no serving one removed
        assert (result.requests["outcome"] == "ok").all()


def test_two_tiers_that_keep_sessions_each_keep_their_own():
    # sticky web servers in front of a store: a request passing both is not a move
    store = Server(workers=4, mean_service_time=0.0005, name="store", keeps_sessions=True)
    web = Server(workers=1, mean_service_time=0.01, name="web", keeps_sessions=True,
                 calls=store)
    result = simulate(Balancer(servers=(web,) * 4, policy="sticky"),
                      Workload(arrival_rate=100, duration=20, clients=50, seed=1))
    assert result.summary["sessions_lost"] == 0 and result.summary["ok"] > 1900


def test_scaling_report_keeps_bins_without_arrivals_and_refuses_a_fixed_fleet():
    profile = ((0, 1.0), (100, 1.0), (100, 0.0), (300, 0.0), (300, 1.0))
    web = Server(workers=1, mean_service_time=0.01, name="web")
    result = simulate(Balancer(servers=(web,), scaling=Schedule(((150, 3),))),
                      Workload(arrival_rate=20, duration=400, rate_profile=profile, seed=1))
    timeline = scaling_report(result, bin_seconds=50)["timeline"]
    assert timeline["time"].tolist() == [50.0 * i for i in range(8)]
    assert timeline["load"].tolist()[2:6] == [0, 0, 0, 0]
    assert timeline["servers"].tolist() == pytest.approx([1, 1, 1, 3, 3, 3, 3, 3])
    with pytest.raises(ValueError, match="result"):
        scaling_report(simulate(Balancer.of(2), Workload(duration=10)))


# --- the autoscaler -------------------------------------------------------------------------

SCALER = dict(target_utilisation=0.3, period=60, window=180, delay=30, boot_time=120,
              min_servers=2, max_servers=6, cool_down=300)
STEP_AT = 600.0  # the load rises past the target here, at a period's start


def test_the_autoscaler_adds_a_server_exactly_window_delay_and_boot_after_a_step():
    # 0.1 s requests on two servers: 1 a second (utilisation 0.05), then 7.5 (0.375 > 0.3)
    trace = Trace(times=tuple(np.concatenate([np.arange(0.5, STEP_AT, 1.0),
                                              np.arange(STEP_AT + 0.05, 1500, 1 / 7.5)])))
    web = Server(workers=1, mean_service_time=0.1, name="web")
    result = simulate(Balancer(servers=(web, web), scaling=Autoscaler(**SCALER)), trace)
    joined = result.events.query("event == 'in service' and time > 0")["time"]
    lag = SCALER["window"] + SCALER["delay"] + SCALER["boot_time"]
    assert joined.min() == pytest.approx(STEP_AT + lag)
    # 0.75 busy servers / 0.3 = 2.5: three servers, one more; at 0.25 each it stays at three
    assert len(joined) == 1 and (result.requests["outcome"] == "ok").all()


@pytest.mark.parametrize("offset", [0.0, 10.0, 25.0, 40.0, 55.0])
def test_a_step_within_a_period_is_caught_within_a_period_of_window_delay_and_boot(offset):
    # each look averages one period: a step partway through one makes that look partly high
    # (above the target if high for long enough), so help comes a period sooner at most,
    # and a period later at most
    step = STEP_AT + offset
    trace = Trace(times=tuple(np.concatenate([np.arange(0.5, step, 1.0),
                                              np.arange(step + 0.05, 1600, 1 / 7.5)])))
    web = Server(workers=1, mean_service_time=0.1, name="web")
    result = simulate(Balancer(servers=(web, web), scaling=Autoscaler(**SCALER)), trace)
    joined = result.events.query("event == 'in service'")["time"].min()
    lag = SCALER["window"] + SCALER["delay"] + SCALER["boot_time"]
    assert step + lag - SCALER["period"] < joined <= step + lag + SCALER["period"]


@pytest.mark.parametrize("seed", range(5))
def test_the_autoscaler_is_never_sooner_than_window_delay_and_boot(seed):
    # Poisson arrivals, 2 a second then 10 (utilisation 0.1, then 0.5): a period's
    # utilisation has an SE of about 0.02 at 10 a second, so the low periods sit 10 SE
    # under the target and the high ones 10 SE over it
    profile = ((0, 0.2), (STEP_AT, 0.2), (STEP_AT, 1.0))
    workload = Workload(arrival_rate=10, duration=1500, rate_profile=profile, seed=seed)
    web = Server(workers=1, mean_service_time=0.1, name="web")
    result = simulate(Balancer(servers=(web, web), scaling=Autoscaler(**SCALER)), workload)
    joined = result.events.query("event == 'in service' and time > 0")["time"]
    lag = SCALER["window"] + SCALER["delay"] + SCALER["boot_time"]
    assert joined.min() >= STEP_AT + lag - 1e-9
    assert joined.min() == pytest.approx(STEP_AT + lag)  # and not later, this far over it


def test_the_autoscaler_follows_a_day_within_its_bounds_and_fails_no_request():
    profile = with_spike(day_profile(trough_share=0.1, peak_hour=14), start=6 * 3600,
                         duration=1800)
    workload = Workload(arrival_rate=4, duration=86400, rate_profile=profile, seed=1)
    web = Server(workers=1, mean_service_time=0.5, name="web")
    scaler = Autoscaler(target_utilisation=0.6, min_servers=1, max_servers=8)
    result = simulate(Balancer(servers=(web,), scaling=scaler), workload)
    fleet = fleet_over_time(result.events, result.end_time)
    assert fleet["in_service"].between(1, 8).all() and fleet["paid"].max() <= 8
    assert fleet["in_service"].max() >= 4  # the peak needs 4 / (2 * 0.6): 4 servers
    assert fleet["in_service"].iloc[-1] <= 2  # the night after needs one or two
    assert (result.requests["outcome"] == "ok").all() and accounted(result)
    assert server_hours(result.events, result.end_time) < 8 * 24 / 2


def test_a_longer_scale_in_window_removes_servers_later_and_not_sooner():
    # 16 a second keeps four servers above the target (0.4 > 0.3), at max_servers; then a
    # step down to 1.6 a second (one server is enough)
    profile = ((0, 1.0), (1200, 1.0), (1200, 0.1))
    workload = Workload(arrival_rate=16, duration=3000, rate_profile=profile, seed=3)
    web = Server(workers=1, mean_service_time=0.1, name="web")
    first_drain = {}
    for scale_in_window in (None, 900):
        scaler = Autoscaler(**{**SCALER, "min_servers": 1, "max_servers": 4,
                               "scale_in_window": scale_in_window})
        result = simulate(Balancer(servers=(web,) * 4, scaling=scaler), workload)
        first_drain[scale_in_window] = result.events.query("event == 'draining'")["time"].min()
    # the drain starts once a whole window of looks after 1200 s is below, then the delay
    assert first_drain[None] == pytest.approx(1200 + 180 + 30)
    assert first_drain[900] == pytest.approx(1200 + 900 + 30)


def test_scaling_report_sums_to_the_run():
    web = Server(workers=1, mean_service_time=0.01, name="web", queue_limit=0)
    workload = Workload(arrival_rate=200, duration=600, seed=1)
    result = simulate(Balancer(servers=(web,), scaling=Schedule(((300, 2),), boot_time=60)),
                      workload)
    report = scaling_report(result, bin_seconds=60)
    timeline = report["timeline"]
    assert len(timeline) == 10 and timeline["time"].tolist() == [60.0 * i for i in range(10)]
    assert (timeline["load"] * 60).sum() == pytest.approx(len(result.requests))
    assert timeline["dropped"].sum() == result.summary["dropped"] > 0
    # one server until 360 s (launched at 300, serving from 360), then two
    assert timeline["servers"].tolist() == pytest.approx([1.0] * 6 + [2.0] * 4)
    assert report["actions"] == 1
    assert report["changes"]["event"].tolist() == ["launched", "in service"]
    assert report["server_hours"] == pytest.approx((300 + 2 * (result.end_time - 300)) / 3600)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("options, named", [
    (dict(rate_profile=()), "rate_profile"),
    (dict(rate_profile=((0, -0.5),)), "rate_profile: share"),
    (dict(rate_profile=((0, 1.5),)), "rate_profile: share"),
    (dict(rate_profile=((-1, 0.5),)), "rate_profile: time"),
    (dict(rate_profile=((10, 0.5), (5, 0.5))), "rate_profile's times"),
    (dict(rate_profile=((5, 0.1), (5, 0.5), (5, 0.9))), "rate_profile's times"),
    (dict(rate_profile="daily"), "rate_profile"),
    (dict(rate_profile=((0, 1),), duration=None, requests=10), "rate_profile needs duration"),
    (dict(arrival_rate=-5), "arrival_rate"),
    (dict(client_skew=-1), "client_skew"),
])
def test_bad_workloads_are_refused_by_name(options, named):
    with pytest.raises(ValueError, match=named):
        Workload(**{"duration": 10, **options})


def test_a_profile_function_outside_zero_to_one_is_refused_when_drawn():
    with pytest.raises(ValueError, match="rate_profile must give a share"):
        Workload(duration=10, rate_profile=lambda time: 2.0).generate()


@pytest.mark.parametrize("options, named", [
    (dict(min_servers=5, max_servers=2), "min_servers"),
    (dict(boot_time=-1), "boot_time"),
    (dict(delay=-1), "delay"),
    (dict(cool_down=-1), "cool_down"),
    (dict(target_utilisation=1.0), "target_utilisation"),
    (dict(period=0), "period"),
    (dict(window=90, period=60), "window"),
    (dict(scale_in_window=30, period=60), "scale_in_window"),
    (dict(max_servers=0), "max_servers"),
])
def test_bad_autoscalers_are_refused_by_name(options, named):
    with pytest.raises(ValueError, match=named):
        Autoscaler(**options)


@pytest.mark.parametrize("changes, named", [
    ((), "changes"), (((10, 0),), "changes: servers"), (((10, 2), (5, 3)), "changes"),
    (((-1, 2),), "changes: seconds"), ((5,), "changes"),
])
def test_bad_schedules_are_refused_by_name(changes, named):
    with pytest.raises(ValueError, match=named):
        Schedule(changes)
    with pytest.raises(ValueError, match="boot_time"):
        Schedule(((1, 2),), boot_time=-1)


def test_a_fleet_outside_the_scalings_bounds_or_a_wrong_scaling_is_refused():
    with pytest.raises(ValueError, match="servers"):
        Balancer.of(5, scaling=Autoscaler(min_servers=1, max_servers=4))
    with pytest.raises(ValueError, match="servers"):
        Balancer.of(1, scaling=Autoscaler(min_servers=2, max_servers=4))
    with pytest.raises(ValueError, match="scaling"):
        Balancer.of(1, scaling="auto")
    with pytest.raises(ValueError, match="keeps_sessions"):
        Server(keeps_sessions="yes")
    with pytest.raises(ValueError, match="policy"):
        Balancer.of(2, policy="cookie")
