"""Uptime simulation against the closed form, and the price list."""

import math

import pytest

from labsupport import theory
from labsupport.theory.uptime import simulate_uptime, simulate_uptime_in_series
from labsupport.theory.costs import PriceList

DAY, HOUR = 86_400.0, 3_600.0


@pytest.mark.parametrize("servers, tolerance", [(1, 0.03), (2, 0.07), (3, 0.19)])
def test_simulated_uptime_matches_theory(servers, tolerance):
    """MTBF 5 days, MTTR 12 hours: one machine is down 9.1 % of the time. Over 200,000
    simulated days (about 36,000 failures per machine), measured over 30 seeds, the
    relative standard deviation of the simulated downtime is about 0.7 % for one
    machine, 2.0 % for two and 5.4 % for three (overlaps are rarer, so noisier).
    Each tolerance is about 3.5 of those standard deviations."""
    mtbf, mttr, horizon = 5 * DAY, 12 * HOUR, 200_000 * DAY
    simulated = simulate_uptime(mtbf, mttr, servers, horizon, seed=servers)
    expected = theory.availability_any_of(mtbf, mttr, servers)
    assert 1 - simulated == pytest.approx(1 - expected, rel=tolerance)


def test_more_machines_more_uptime_same_seed():
    shares = [simulate_uptime(DAY, HOUR, n, 5_000 * DAY, seed=4) for n in (1, 2, 3)]
    assert shares[0] < shares[1] < shares[2] <= 1


def test_uptime_rejects_bad_input_by_name():
    for kwargs, name in [(dict(mtbf=0), "mtbf"), (dict(mttr=-1), "mttr"),
                         (dict(servers=0), "servers"), (dict(horizon=float("nan")), "horizon")]:
        args = dict(mtbf=DAY, mttr=HOUR, servers=1, horizon=DAY) | kwargs
        with pytest.raises(ValueError, match=name):
            simulate_uptime(**args)


def test_bigger_machines_cost_more_than_proportionally_up_to_a_ceiling():
    prices = PriceList(monthly_price=100, premium=1.2, largest_size=16)
    assert prices.machine(1) == 100
    assert prices.machine(8) > 8 * prices.machine(1)
    assert prices.design(1, servers=8) == 800
    with pytest.raises(ValueError, match="size"):
        prices.machine(32)
    with pytest.raises(ValueError, match="premium"):
        PriceList(premium=0)
    with pytest.raises(ValueError, match="servers"):
        prices.design(2, servers=0)


def test_prices_are_proportional_to_size_unless_a_premium_is_assumed():
    # Cloud list prices are close to linear in size within a family: that is the default.
    prices = PriceList()
    assert prices.machine(8) == pytest.approx(8 * prices.machine(1))
    assert PriceList(premium=1.15).machine(8) > 8 * PriceList(premium=1.15).machine(1)


def episode_tolerance(mtbf, mttr, servers, needed, down_share, horizon):
    """Four standard deviations of a simulated down share: its rarest kind of down stretch
    (fewer than `needed` up) begins about horizon * P(needed up) * needed / mtbf times, and a
    total of M exponential-ish stretches has a relative sd of about sqrt(2 / M)."""
    up = mtbf / (mtbf + mttr)
    at_edge = math.comb(servers, needed) * up ** needed * (1 - up) ** (servers - needed)
    stretches = horizon * at_edge * needed / mtbf
    return 4 * math.sqrt(2 / stretches) * down_share


@pytest.mark.parametrize("servers, needed, detection_delay",
                         [(3, 2, 0.0), (3, 2, 10.0), (2, 1, 5.0), (4, 3, 0.0), (5, 4, 20.0)])
def test_k_of_n_availability_with_detection_matches_the_simulation(servers, needed,
                                                                   detection_delay):
    # MTBF 1,000 s, MTTR 100 s over 10 million seconds: thousands of down stretches. A fleet
    # sized N + 1 needs N up; each failure the fleet survives still costs the detection delay.
    mtbf, mttr, horizon = 1_000.0, 100.0, 1e7
    expected = theory.availability_k_of_n(mtbf, mttr, servers, needed, detection_delay)
    simulated = simulate_uptime(mtbf, mttr, servers, horizon, seed=3, needed=needed,
                                detection_delay=detection_delay)
    tolerance = episode_tolerance(mtbf, mttr, servers, needed, 1 - expected, horizon)
    assert simulated == pytest.approx(expected, abs=tolerance)


def test_k_of_n_generalises_any_of_and_detection_costs_downtime():
    assert theory.availability_k_of_n(1_000, 100, 3, 1) == pytest.approx(
        theory.availability_any_of(1_000, 100, 3))
    assert theory.availability_k_of_n(1_000, 100, 3, 3) == pytest.approx(
        theory.availability(1_000, 100) ** 3)
    # One machine with a standby: 2 failures per 1,100 s cycle, each 10 s unnoticed.
    with_delay = theory.availability_k_of_n(1_000, 100, 2, 1, detection_delay=10)
    assert with_delay < theory.availability_any_of(1_000, 100, 2) - 0.01
    with pytest.raises(ValueError, match="needed"):
        theory.availability_k_of_n(1_000, 100, 3, needed=4)


def test_components_in_series_multiply_their_availabilities():
    # A balancer pair (1 of 2, 5 s detection), a web tier (2 of 3, 10 s), a database
    # (1 of 2, 30 s failover): down when any of them is.
    components = [(5_000.0, 100.0, 2, 1, 5.0), (1_000.0, 100.0, 3, 2, 10.0),
                  (5_000.0, 300.0, 2, 1, 30.0)]
    each = [theory.availability_k_of_n(*component) for component in components]
    expected = theory.availability_in_series(*each)
    simulated = simulate_uptime_in_series(components, 1e7, seed=4)
    tolerance = sum(episode_tolerance(c[0], c[1], c[2], c[3], 1 - a, 1e7)
                    for c, a in zip(components, each))
    assert simulated == pytest.approx(expected, abs=tolerance)
    assert expected < min(each)
