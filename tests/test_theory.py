"""Behaviour of the closed-form results in labsupport.theory."""

import math

import pytest

from labsupport import theory


# --- Known textbook values -------------------------------------------------

def test_mm1_textbook_example():
    # 8 requests/s, 100 ms each: the server is busy 80% of the time.
    assert theory.utilisation(8, 0.1) == pytest.approx(0.8)
    assert theory.mm1_mean_response(8, 0.1) == pytest.approx(0.5)
    assert theory.mmc_mean_response(8, 0.1, 1) == pytest.approx(0.5)
    assert theory.mmc_mean_wait(8, 0.1, 1) == pytest.approx(0.4)


def test_erlang_c_two_erlangs_three_servers():
    assert theory.erlang_c(2, 1, 3) == pytest.approx(4 / 9)
    assert theory.erlang_c(20, 0.1, 3) == pytest.approx(0.4444, abs=1e-4)


@pytest.mark.parametrize("arrival_rate", [0.5, 2, 5, 9, 9.99])
def test_mmc_with_one_server_is_mm1(arrival_rate):
    assert theory.mmc_mean_response(arrival_rate, 0.1, 1) == pytest.approx(
        theory.mm1_mean_response(arrival_rate, 0.1))


@pytest.mark.parametrize("arrival_rate", [0.5, 2, 5, 9])
def test_erlang_c_one_server_is_utilisation(arrival_rate):
    # A lone server makes you wait exactly when it is busy.
    assert theory.erlang_c(arrival_rate, 0.1, 1) == pytest.approx(
        theory.utilisation(arrival_rate, 0.1))


def test_erlang_c_many_servers_does_not_overflow():
    c = theory.erlang_c(arrival_rate=475, mean_service_time=1, workers=500)
    assert math.isfinite(c) and 0 < c < 1
    c = theory.erlang_c(arrival_rate=950, mean_service_time=1, workers=1000)
    assert math.isfinite(c) and 0 < c < 1


def test_wait_probability_drops_with_pooling_at_same_load():
    assert theory.erlang_c(0.8, 1, 1) > theory.erlang_c(8, 1, 10) > theory.erlang_c(80, 1, 100)


# --- Monotonic behaviour ---------------------------------------------------

def test_mean_response_increases_with_arrival_rate():
    rates = [1, 3, 5, 7, 9, 9.9]
    responses = [theory.mmc_mean_response(r, 0.1, 1) for r in rates]
    assert responses == sorted(responses)
    assert len(set(responses)) == len(responses)
    multi = [theory.mmc_mean_response(r * 4, 0.1, 4) for r in rates]
    assert multi == sorted(multi)


def test_more_servers_at_same_per_server_load_wait_less():
    waits = [theory.mmc_mean_wait(8 * c, 0.1, c) for c in (1, 2, 4, 8, 16)]
    assert all(a > b for a, b in zip(waits, waits[1:]))


# --- Percentiles -----------------------------------------------------------

def test_mm1_median_response():
    # mu - lambda = 10 - 8 = 2 per second.
    assert theory.mm1_response_percentile(8, 0.1, 0.5) == pytest.approx(math.log(2) / 2)


def test_mm1_p99_is_far_above_mean():
    p99 = theory.mm1_response_percentile(8, 0.1, 0.99)
    assert p99 == pytest.approx(math.log(100) * 0.5)
    assert p99 > 4 * theory.mm1_mean_response(8, 0.1)


def test_mmc_wait_percentile_zero_when_most_requests_never_wait():
    c = theory.erlang_c(2, 1, 3)  # 4/9 of requests wait
    assert theory.mmc_wait_percentile(2, 1, 3, 0.5) == 0.0
    assert theory.mmc_wait_percentile(2, 1, 3, 1 - c - 0.01) == 0.0
    assert theory.mmc_wait_percentile(2, 1, 3, 0.99) > 0


def test_mmc_wait_percentile_tail_formula():
    # P(wait > t) = C exp(-(c mu - lambda) t): check the tail at the quantile.
    t = theory.mmc_wait_percentile(2, 1, 3, 0.95)
    assert theory.erlang_c(2, 1, 3) * math.exp(-(3 - 2) * t) == pytest.approx(0.05)


def test_mm1_wait_percentile_matches_response_percentile_shape():
    # For one server the wait tail is rho * exp(-(mu - lambda) t).
    t = theory.mmc_wait_percentile(8, 0.1, 1, 0.99)
    assert t == pytest.approx(math.log(0.8 / 0.01) / 2)


# --- Unstable queues -------------------------------------------------------

@pytest.mark.parametrize("arrival_rate", [10, 15])  # rho = 1 and rho = 1.5
def test_unstable_queue_is_infinite(arrival_rate):
    assert theory.mm1_mean_response(arrival_rate, 0.1) == math.inf
    assert theory.mmc_mean_wait(arrival_rate, 0.1, 1) == math.inf
    assert theory.mmc_mean_response(arrival_rate, 0.1, 1) == math.inf
    assert theory.mmc_mean_response(arrival_rate * 3, 0.1, 3) == math.inf
    assert theory.mm1_response_percentile(arrival_rate, 0.1, 0.99) == math.inf
    assert theory.mmc_wait_percentile(arrival_rate * 3, 0.1, 3, 0.99) == math.inf
    assert theory.erlang_c(arrival_rate * 3, 0.1, 3) == 1.0


# --- Availability ----------------------------------------------------------

def test_three_nines_single_server():
    assert theory.availability(mtbf=999, mttr=1) == 0.999


def test_two_redundant_servers():
    assert theory.availability_any_of(mtbf=99, mttr=1, servers=2) == pytest.approx(0.9999)
    assert theory.availability_any_of(mtbf=99, mttr=1, servers=1) == pytest.approx(0.99)


def test_nines():
    assert theory.nines(0.999) == pytest.approx(3.0)
    assert theory.nines(0.9) == pytest.approx(1.0)
    assert theory.nines(1.0) == math.inf
    assert theory.nines(0.0) == 0.0


def test_downtime_per_year():
    assert theory.downtime_per_year(0.999) == pytest.approx(31536)
    assert theory.downtime_per_year(1.0) == 0.0
    assert theory.downtime_per_year(0.0) == 365 * 24 * 3600


# --- Little's law ----------------------------------------------------------

def test_littles_law():
    # 8 requests/s each staying 0.5 s: 4 requests inside on average.
    assert theory.littles_law_in_system(8, 0.5) == pytest.approx(4.0)
    assert theory.littles_law_in_system(8, theory.mm1_mean_response(8, 0.1)) == pytest.approx(4.0)


# --- Bad input -------------------------------------------------------------

GOOD = {"arrival_rate": 8, "mean_service_time": 0.1, "workers": 2, "servers": 2, "q": 0.99,
        "mean_response_time": 0.5, "mtbf": 999, "mttr": 1, "availability": 0.999}

SIGNATURES = [
    (theory.utilisation, ["arrival_rate", "mean_service_time", "workers"]),
    (theory.erlang_c, ["arrival_rate", "mean_service_time", "workers"]),
    (theory.mmc_mean_wait, ["arrival_rate", "mean_service_time", "workers"]),
    (theory.mmc_mean_response, ["arrival_rate", "mean_service_time", "workers"]),
    (theory.mm1_mean_response, ["arrival_rate", "mean_service_time"]),
    (theory.mm1_response_percentile, ["arrival_rate", "mean_service_time", "q"]),
    (theory.mmc_wait_percentile, ["arrival_rate", "mean_service_time", "workers", "q"]),
    (theory.littles_law_in_system, ["arrival_rate", "mean_response_time"]),
    (theory.availability, ["mtbf", "mttr"]),
    (theory.availability_any_of, ["mtbf", "mttr", "servers"]),
    (theory.downtime_per_year, ["availability"]),
    (theory.nines, ["availability"]),
]

ALWAYS_BAD = [-1, math.nan, math.inf, -math.inf, True, "8", None]
BAD_EXTRA = {
    "servers": [0, 2.5, 2.0],
    "workers": [0, 2.5, 2.0],
    "q": [0, 1, 1.5],
    "availability": [1.5],
}
POSITIVE = {"arrival_rate", "mean_service_time", "mean_response_time", "mtbf", "mttr"}


def _bad_cases():
    for function, params in SIGNATURES:
        for name in params:
            bad_values = ALWAYS_BAD + BAD_EXTRA.get(name, [])
            if name in POSITIVE:
                bad_values = bad_values + [0]
            for bad in bad_values:
                kwargs = {p: GOOD[p] for p in params}
                kwargs[name] = bad
                yield pytest.param(function, kwargs, name,
                                   id=f"{function.__name__}-{name}={bad!r}")


@pytest.mark.parametrize("function, kwargs, name", list(_bad_cases()))
def test_bad_input_names_the_parameter(function, kwargs, name):
    with pytest.raises(ValueError, match=name):
        function(**kwargs)


def test_error_message_says_what_is_accepted():
    with pytest.raises(ValueError, match=r"arrival_rate must be a finite number > 0 and at most "
                                         r"1,000,000,000,000,000, got -1"):
        theory.utilisation(-1, 0.1)
    with pytest.raises(ValueError,
                       match=r"workers must be an integer from 1 to 1,000,000,000, got 2.5"):
        theory.erlang_c(8, 0.1, 2.5)


def test_good_input_accepted_by_every_function():
    for function, params in SIGNATURES:
        assert math.isfinite(function(**{p: GOOD[p] for p in params}))


def test_pollaczek_khinchine_with_exponential_service_is_mm1():
    from labsupport import theory
    for rate in (10, 50, 90):
        assert theory.mg1_mean_wait(rate, 0.01, 1.0) == pytest.approx(
            theory.mmc_mean_wait(rate, 0.01, 1))
    assert theory.mg1_mean_wait(50, 0.01, 0.0) == pytest.approx(
        theory.mmc_mean_wait(50, 0.01, 1) / 2)


def test_mmc_curve_rows_match_the_formulas_and_skip_unstable_rates():
    from labsupport import theory
    rows = theory.mmc_curve([20, 50, 100, 120], 0.01, workers=1)
    assert {row["arrival_rate"] for row in rows} == {20, 50}
    mean_at_50 = [r["latency"] for r in rows if r["arrival_rate"] == 50 and r["metric"] == "mean"]
    assert mean_at_50 == [pytest.approx(0.02)]
    assert {r["metric"] for r in theory.mmc_curve([100], 0.01, workers=2)} == {"mean"}
