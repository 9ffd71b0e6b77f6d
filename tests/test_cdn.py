"""The CDN: edges that keep objects for a time to live, against lambda T / (1 + lambda T);
purges and versioned URLs after a deploy; an edge or the whole CDN failing; traffic and
cost; bad input by name."""

import dataclasses
import math

import numpy as np
import pytest

from labsupport import Server, Trace, Workload, simulate, theory
from labsupport.components.cdn import Cdn, Region, TransferPrices, object_bytes, traffic

from helpers import accounted

# An origin so fast and near that a miss is (almost) an instant fetch, as the formula assumes.
INSTANT_ORIGIN = Server(workers=64, mean_service_time=1e-6, name="origin")
HERE = Region("here", edge_rtt=0.0, origin_rtt=0.0)


def hit_ratio_band(rates, ttl, requests_each):
    """4 standard errors of the measured hit ratio, for objects asked for at `rates` with
    `requests_each` requests of each. Per object, misses are a renewal process: each cycle
    is 1 + Poisson(rate * ttl) requests (mean m = 1 + rate * ttl, variance rate * ttl), so
    over n requests the misses number about n / m with variance n * (rate * ttl) / m**3."""
    variance = sum(n * (rate * ttl) / (1 + rate * ttl) ** 3
                   for rate, n in zip(rates, requests_each))
    return 4 * math.sqrt(variance) / sum(requests_each)


@pytest.mark.parametrize("rate_times_ttl", [0.2, 1.0, 5.0, 20.0])
def test_one_object_hits_as_lambda_t_over_one_plus_lambda_t(rate_times_ttl):
    rate, requests = 50.0, 20_000
    ttl = rate_times_ttl / rate
    cdn = Cdn(regions=(HERE,), origin=INSTANT_ORIGIN, ttl=ttl)
    result = simulate(cdn, Workload(arrival_rate=rate, requests=requests, keys=1, seed=3))
    measured = result.requests["hit"].mean()
    expected = theory.ttl_hit_ratio(rate, ttl)
    assert measured == pytest.approx(expected, abs=hit_ratio_band([rate], ttl, [requests]))
    assert accounted(result)


def test_a_zipf_catalogue_hits_as_the_sum_over_its_objects():
    rate, requests, keys, ttl = 400.0, 60_000, 500, 2.0
    popularity = theory.zipf_popularity(keys, 1.0)
    cdn = Cdn(regions=(HERE,), origin=INSTANT_ORIGIN, ttl=ttl)
    result = simulate(cdn, Workload(arrival_rate=rate, requests=requests, keys=keys,
                                    key_skew=1.0, seed=5))
    measured = result.requests["hit"].mean()
    expected = theory.ttl_cache_hit_ratio(rate, ttl, popularity)
    band = hit_ratio_band([rate * p for p in popularity], ttl, [requests * p for p in popularity])
    assert measured == pytest.approx(expected, abs=band)


def test_a_users_latency_is_her_round_trips_plus_the_origins_work():
    # One region 20 ms from its edge and 150 ms from the origin; the origin takes 10 ms
    # (deterministic). Request 0 misses: 20 + 150 + 10 ms. Request 1, a second later,
    # hits: 20 ms. Request 2 comes after the TTL of 5 s: a miss again. Without the CDN,
    # each takes 150 + 10 ms.
    origin = Server(mean_service_time=0.010, distribution="deterministic", name="origin")
    region = Region("eu", edge_rtt=0.020, origin_rtt=0.150)
    trace = Trace(times=(0.0, 1.0, 7.0))
    with_cdn = simulate(Cdn(regions=(region,), origin=origin, ttl=5.0), trace).requests
    assert with_cdn["latency"].tolist() == pytest.approx([0.180, 0.020, 0.180])
    assert with_cdn["hit"].tolist() == [False, True, False]
    assert with_cdn["server"].astype(str).tolist() == ["origin", "edge-eu", "origin"]
    assert with_cdn["time_in.network"].tolist() == pytest.approx([0.170, 0.020, 0.170])
    without = simulate(Cdn(regions=(region,), origin=origin, enabled=False), trace).requests
    assert without["latency"].tolist() == pytest.approx([0.160] * 3)
    assert (without["edge"].astype(str) == "-").all()


def test_users_are_split_among_regions_by_their_shares():
    regions = (Region("a", share=3.0), Region("b", share=1.0))
    cdn = Cdn(regions=regions)
    assert cdn.region_of(np.arange(8)).tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    result = simulate(cdn, Workload(arrival_rate=100, requests=4_000, clients=40, keys=50,
                                    seed=2))
    share_a = (result.requests["edge"].astype(str) == "edge-a").mean()
    assert share_a == pytest.approx(0.75, abs=0.03)  # 30 of 40 clients, requests binomial


def deployed(invalidation, purge_delay=2.0):
    cdn = Cdn(regions=(HERE,), origin=INSTANT_ORIGIN, ttl=30.0, deploys=(10.0,),
              invalidation=invalidation, purge_delay=purge_delay)
    result = simulate(cdn, Workload(arrival_rate=200, duration=30, keys=20, seed=4))
    assert accounted(result) and result.summary["in_flight"] == 0
    return result.requests


def test_a_purge_reaches_every_edge_after_its_delay_and_not_before():
    requests = deployed("purge", purge_delay=2.0)
    stale = requests.loc[requests["stale"], "arrival"]
    assert len(stale) > 300  # 2 s of 200 requests a second, nearly all hits on old copies
    assert stale.min() >= 10.0 and stale.max() < 12.0


def test_versioned_urls_never_serve_an_old_object_after_the_deploy():
    requests = deployed("versioned")
    assert not requests["stale"].any()
    after = requests[requests["arrival"].between(10.0, 10.5)]
    assert (~after["hit"]).sum() >= 15  # every object is new: about one miss each


def test_without_invalidation_old_copies_live_until_they_expire():
    requests = deployed("ttl")
    stale = requests.loc[requests["stale"], "arrival"]
    assert stale.max() > 20.0  # fetched before 10 s, fresh for 30 s


def test_a_cdn_outage_sends_every_request_to_the_origin():
    cdn = Cdn(regions=(Region("a"), Region("b", edge_failures=((5.0, 8.0),))),
              origin=Server(workers=16, mean_service_time=0.005, name="origin"),
              failures=((10.0, 12.0),), ttl=60.0)
    result = simulate(cdn, Workload(arrival_rate=300, duration=15, clients=20, keys=100,
                                    key_skew=1.0, seed=7))
    requests = result.requests
    assert accounted(result) and result.summary["in_flight"] == 0
    down = requests[requests["arrival"].between(10.0, 12.0)]
    assert (down["edge"].astype(str) == "-").all() and not down["hit"].any()
    assert (down["server"].astype(str) == "origin").all()
    region_b = requests[(requests["client"] >= 10) & requests["arrival"].between(5.0, 8.0)]
    assert (region_b["edge"].astype(str) == "-").all()
    after = requests[requests["arrival"] > 12.5]
    assert after["hit"].mean() > 0.8  # the edges kept their copies through the outage
    events = set(result.events["event"] + "@" + result.events["component"])
    assert {"fails@cdn", "recovers@cdn", "fails@edge-b", "recovers@edge-b"} <= events


def test_traffic_counts_bytes_from_the_edges_and_from_the_origin():
    cdn = Cdn(regions=(HERE,), origin=INSTANT_ORIGIN, ttl=60.0, mean_object_bytes=1e6)
    result = simulate(cdn, Workload(arrival_rate=100, requests=2_000, keys=50, seed=1))
    prices = TransferPrices(edge_per_gb=0.1, fill_per_gb=0.03, origin_per_gb=0.2,
                            edge_per_10k_requests=0.01)
    sent = traffic(result, cdn, prices)
    sizes = object_bytes(50, 1e6, 1)
    assert sent["origin_requests"] == 50  # one miss per object, then hits for 60 s
    assert sent["fill_gb"] == sent["origin_gb"] == pytest.approx(sizes.sum() / 1e9)
    assert sent["direct_gb"] == 0
    keys = result.requests["key"].to_numpy()
    assert sent["edge_gb"] == pytest.approx(sizes[keys].sum() / 1e9)
    assert sent["cost"] == pytest.approx(0.1 * sent["edge_gb"] + 0.03 * sent["fill_gb"]
                                         + 0.01 * 2_000 / 10_000)
    assert object_bytes(50, 1e6, 1).tolist() == sizes.tolist()  # seeded
    direct = traffic(simulate(Cdn(regions=(HERE,), origin=INSTANT_ORIGIN, enabled=False),
                              Workload(arrival_rate=100, requests=2_000, keys=50, seed=1)),
                     cdn, prices)
    assert direct["direct_gb"] == pytest.approx(sent["edge_gb"])
    assert direct["cost"] == pytest.approx(0.2 * direct["direct_gb"])


@pytest.mark.parametrize("make, name", [
    (lambda: Cdn(regions=(HERE,), ttl=-1.0), "ttl"),
    (lambda: Cdn(regions=()), "regions"),
    (lambda: Cdn(regions=(HERE, HERE)), "regions"),
    (lambda: Cdn(regions=("eu",)), "regions"),
    (lambda: Region("eu", edge_rtt=-0.01), "edge_rtt"),
    (lambda: Region("eu", origin_rtt=float("nan")), "origin_rtt"),
    (lambda: Region("eu", share=0), "share"),
    (lambda: Region("eu", edge_failures=((3.0, 1.0),)), "edge_failures"),
    (lambda: Cdn(regions=(HERE,), invalidation="ban"), "invalidation"),
    (lambda: Cdn(regions=(HERE,), deploys=(5.0, 1.0)), "deploys"),
    (lambda: Cdn(regions=(HERE,), purge_delay=-1), "purge_delay"),
    (lambda: Cdn(regions=(HERE,), origin="web"), "origin"),
    (lambda: TransferPrices(edge_per_gb=-0.1), "edge_per_gb"),
    (lambda: Cdn(regions=(HERE,), on_cdn=-1), "on_cdn"),
])
def test_bad_input_is_refused_by_name(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("call, name", [
    (lambda: theory.ttl_hit_ratio(-1.0, 5.0), "request_rate"),
    (lambda: theory.ttl_hit_ratio(1.0, -5.0), "ttl"),
    (lambda: theory.ttl_cache_hit_ratio(10.0, 1.0, [0, 0]), "popularity"),
])
def test_the_ttl_formulas_refuse_bad_input_by_name(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_the_ttl_formula_at_its_edges():
    assert theory.ttl_hit_ratio(0.0, 10.0) == 0.0
    assert theory.ttl_hit_ratio(3.0, 0.0) == 0.0
    assert theory.ttl_hit_ratio(3.0, math.inf) == 1.0
    assert theory.ttl_hit_ratio(1.0, 1.0) == 0.5


def test_objects_off_the_cdn_go_to_the_origin_and_cost_only_origin_transfer():
    # Only the 10 most popular of 200 objects on the CDN: the others never touch an edge.
    cdn = Cdn(regions=(HERE,), origin=INSTANT_ORIGIN, ttl=60.0, on_cdn=10)
    result = simulate(cdn, Workload(arrival_rate=200, requests=4_000, keys=200, key_skew=1.0,
                                    seed=8))
    requests = result.requests
    off = requests["key"] >= 10
    assert (requests.loc[off, "edge"].astype(str) == "-").all()
    assert not requests.loc[off, "hit"].any()
    assert (requests.loc[~off, "edge"].astype(str) == "edge-here").all()
    sent = traffic(result, cdn)
    sizes = object_bytes(200, cdn.mean_object_bytes, 8)
    keys = requests["key"].to_numpy()
    assert sent["edge_gb"] == pytest.approx(sizes[keys[keys < 10]].sum() / 1e9)


def test_the_cdn_raises_the_load_the_origin_can_take_by_its_hits():
    # 600 requests a second against an origin with room for 400: with the edges answering
    # about three quarters, the origin sees about 160 and the run is stable; without the
    # CDN it sees all 600 and is flagged unstable.
    origin = Server(workers=4, mean_service_time=0.010, name="origin")
    workload = Workload(arrival_rate=600, duration=30, keys=2_000, key_skew=1.0, clients=10,
                        seed=1)
    with_cdn = Cdn(regions=(Region("a"),), origin=origin, ttl=60.0)
    hits = with_cdn.hits_in(workload.generate())
    assert with_cdn.capacity_for(workload) == pytest.approx(
        400 / (1 - hits / len(workload.generate())))
    result = simulate(with_cdn, workload)
    assert not result.summary["unstable"]
    # The estimate (no fetch time) and the run (fetches take ~160 ms) agree within 2 %.
    assert result.requests["hit"].mean() == pytest.approx(hits / len(result.requests), abs=0.02)
    assert simulate(Cdn(regions=(Region("a"),), origin=origin, enabled=False),
                    workload).summary["unstable"]


def test_each_request_is_named_by_the_region_its_client_is_in():
    from labsupport.components.cdn import regions_of
    cdn = Cdn(regions=(Region("a", share=1.0), Region("b", share=1.0)))
    result = simulate(cdn, Workload(arrival_rate=50, requests=500, clients=4, keys=10, seed=1))
    names = regions_of(result, cdn)
    clients = result.requests["client"].to_numpy()
    assert names.tolist() == ["a" if client < 2 else "b" for client in clients]
    through = result.requests["edge"].astype(str).to_numpy()
    assert (through == np.char.add("edge-", names.astype(str))).all()


def test_edge_hits_are_the_edges_own_even_with_a_cache_behind_the_origin():
    from labsupport import Cache
    cdn = Cdn(regions=(Region("eu"),), origin=Cache(max_items=100), on_cdn=10, ttl=math.inf)
    result = simulate(cdn, Workload(arrival_rate=100, duration=20, keys=50, seed=3))
    requests = result.requests
    sent = traffic(result, cdn)
    assert sent["edge_hits"] == int((requests["server"].astype(str) == "edge-eu").sum())
    assert sent["edge_hits"] < int(requests["hit"].sum())  # the cache's hits are not the edge's


def test_the_capacity_estimate_empties_an_edge_that_fails():
    # With instant fetches the estimate is the run's count exactly, failure included.
    near = Region("a", edge_rtt=0.0, origin_rtt=0.0, edge_failures=((5.0, 6.0),))
    cdn = Cdn(regions=(near,), origin=INSTANT_ORIGIN, ttl=math.inf)
    workload = Workload(arrival_rate=200, duration=10, keys=50, seed=3)
    estimate = cdn.hits_in(workload.generate())
    assert estimate == int(simulate(cdn, workload).requests["hit"].sum())
    assert estimate < Cdn(regions=(dataclasses.replace(near, edge_failures=()),),
                          origin=INSTANT_ORIGIN, ttl=math.inf).hits_in(workload.generate())


def test_traffic_of_one_region_and_an_unknown_region_by_name():
    cdn = Cdn(regions=(Region("a"), Region("b")), origin=INSTANT_ORIGIN)
    result = simulate(cdn, Workload(arrival_rate=100, requests=1_000, clients=10, keys=20,
                                    seed=2))
    both = traffic(result, cdn)
    parts = [traffic(result, cdn, region=name) for name in ("a", "b")]
    assert sum(part["requests"] for part in parts) == both["requests"]
    assert sum(part["edge_gb"] for part in parts) == pytest.approx(both["edge_gb"])
    with pytest.raises(ValueError, match="region"):
        traffic(result, cdn, region="mars")
