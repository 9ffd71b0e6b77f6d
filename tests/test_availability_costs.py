"""Uptime simulation against the closed form, and the price list."""

import pytest

from labsupport import theory
from labsupport.availability import simulate_uptime
from labsupport.costs import PriceList

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
    prices = PriceList(base_price=100, premium=1.2, largest=16)
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
