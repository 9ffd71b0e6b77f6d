"""The cache: eviction, expiry, Che's approximation, staleness, a flush, bad input."""

import numpy as np
import pytest

from labsupport import OUTCOMES, Cache, Server, Trace, Workload, simulate, theory
from labsupport.components.cache import Store, replay

EXACT = dict(server=Server(mean_service_time=0.001, distribution="deterministic", name="cache"),
             database=Server(mean_service_time=0.1, distribution="deterministic",
                             name="database"))


def zipf_keys(skew, keys=1_000, requests=100_000, seed=1):
    return Workload(arrival_rate=1, requests=requests, keys=keys, key_skew=skew,
                    seed=seed).generate().key.tolist()


# --- the store on its own -------------------------------------------------------

@pytest.mark.parametrize("policy, evicted", [("lru", "a"), ("fifo", "b"), ("lfu", "c")])
def test_each_policy_evicts_its_own_victim(policy, evicted):
    store = Store(3, policy)
    for key in "bac":  # b is the oldest
        store.set(key, key, 0.0)
    for key in "aaaabbc":  # a: most used but longest ago; c: least used, most recently
        store.get(key, 0.0)
    store.set("d", "d", 0.0)
    assert evicted not in store.items and "d" in store.items


def test_expiry_after_ttl():
    store = Store(10, "lru", ttl=5.0)
    store.set("k", 1, now=0.0)
    assert store.get("k", 4.9) == 1 and store.get("k", 5.0) is None


@pytest.mark.parametrize("skew", [0.6, 1.0, 1.2])
@pytest.mark.parametrize("max_items", [10, 100, 300])
def test_lru_hit_ratio_matches_che(skew, max_items):
    """100,000 independent Zipf requests over 1,000 keys, the first 20,000 left out as
    warm-up. 80,000 hits-or-misses give a standard error of at most 0.002 on the hit
    ratio; Che's approximation is known to be within about 0.01 for LRU here.
    Tolerance: 0.015."""
    keys = zipf_keys(skew)
    simulated = np.mean(replay(keys, max_items, "lru")[20_000:])
    expected = theory.che_lru_hit_ratio(max_items, theory.zipf_popularity(1_000, skew))
    assert simulated == pytest.approx(expected, abs=0.015)


def test_lfu_beats_lru_beats_fifo_on_stable_popularity():
    keys = zipf_keys(1.0)
    ratios = {policy: np.mean(replay(keys, 50, policy)[20_000:])
              for policy in ("lru", "lfu", "fifo")}
    assert ratios["lfu"] > ratios["lru"] > ratios["fifo"]


def test_a_cache_holding_every_key_misses_once_per_key():
    keys = zipf_keys(0.8, keys=200, requests=20_000)
    for policy in ("lru", "lfu", "fifo"):
        misses = replay(keys, 200, policy).count(False)
        assert misses == len(set(keys))


# --- the cache-aside tier -----------------------------------------------------------

def test_hits_are_served_at_cache_speed_and_misses_fill_the_cache():
    trace = Trace(times=(0.0, 1.0, 2.0), keys=(7, 7, 8))
    requests = simulate(Cache(**EXACT), trace).requests
    assert requests["hit"].tolist() == [False, True, False]
    assert requests["latency"].round(6).tolist() == [0.1, 0.001, 0.1]
    assert requests["server"].astype(str).tolist() == ["database", "cache", "database"]


def test_ttl_zero_misses_every_time():
    result = simulate(Cache(max_items=1_000, ttl=0.0),
                      Workload(arrival_rate=100, duration=20, keys=10, key_skew=1.0))
    assert result.requests["hit"].sum() == 0


def test_stale_reads_with_and_without_invalidation():
    # read key 1 (miss, fills v0), write key 1 (v1), read key 1 again.
    trace = Trace(times=(0.0, 1.0, 2.0), writes=(False, True, False), keys=(1, 1, 1))
    kept = simulate(Cache(on_write="none", **EXACT), trace).requests
    assert kept["hit"].tolist() == [False, False, True]
    assert kept["stale"].tolist() == [False, False, True]
    for on_write in ("invalidate", "update"):
        fresh = simulate(Cache(on_write=on_write, **EXACT), trace).requests
        assert not fresh["stale"].any()
    assert simulate(Cache(on_write="update", **EXACT), trace).requests["hit"].iloc[2]


def test_a_miss_that_read_before_a_write_puts_the_old_value_back_until_its_ttl():
    # The cache-aside race: a read misses and the database serves it from 0 to 1 s (it reads
    # v0); a write commits v1 at 0.6 s and deletes the key (not cached yet); at 1 s the read
    # stores the v0 it read. Reads then get v0 from the cache until the TTL (5 s) runs out.
    database = Server(workers=2, mean_service_time=1.0, write_service_time=0.5,
                      distribution="deterministic", name="database")
    trace = Trace(times=(0.0, 0.1, 2.0, 5.9, 6.1), writes=(False, True, False, False, False),
                  keys=(1, 1, 1, 1, 1))
    for on_write in ("invalidate", "update"):
        requests = simulate(Cache(database=database, ttl=5.0, on_write=on_write),
                            trace).requests
        assert requests["hit"].tolist() == [False, False, True, True, False]
        assert requests["stale"].tolist() == [False, False, True, True, False]


def test_invalidation_leaves_only_the_races_under_load():
    workload = Workload(arrival_rate=300, duration=30, read_share=0.8, keys=200,
                        key_skew=1.0, seed=2)
    reads = workload.generate().is_write == 0
    racing = simulate(Cache(max_items=100), workload).requests[reads]
    kept = simulate(Cache(max_items=100, on_write="none", ttl=10.0), workload).requests[reads]
    # 7,305 reads: the races (a miss in flight across a write, a read in the moment before
    # the delete lands) stale about 1 % of them; never deleting, most.
    assert 0 < racing["stale"].mean() < 0.03
    assert kept["stale"].mean() > 0.5


def test_updating_on_write_is_staler_than_deleting_when_writers_collide():
    # Five hot keys, half the requests writes, a 5 ms trip from commit to cache: two writes
    # of one key often land in the cache out of order, and an update puts the older value
    # back; a delete cannot (deletes do not depend on order). 4,598 reads each.
    workload = Workload(arrival_rate=300, duration=30, read_share=0.5, keys=5, key_skew=1.0,
                        seed=2)
    cache_server = Server(workers=8, mean_service_time=0.005, name="cache")
    stale = {on_write: simulate(Cache(on_write=on_write, server=cache_server),
                                workload).requests["stale"].mean()
             for on_write in ("invalidate", "update")}
    assert stale["update"] > 1.3 * stale["invalidate"]


def test_after_a_restart_the_database_load_rises_then_recovers():
    workload = Workload(arrival_rate=300, duration=60, keys=1_000, key_skew=1.0, seed=3)
    result = simulate(Cache(max_items=200, failures=((30.0, 30.5),)), workload)
    requests = result.requests
    assert sum(result.summary[o] for o in OUTCOMES) == len(requests)
    arrival = requests.loc[requests["server"].astype(str) == "database", "arrival"]

    def misses_per_second(start, end):
        return ((arrival >= start) & (arrival < end)).sum() / (end - start)

    before, down, spike, later = (misses_per_second(25, 30), misses_per_second(30, 30.5),
                                  misses_per_second(30.5, 30.75), misses_per_second(45, 60))
    # About 100 misses a second before (Poisson: ±10 over 5 s). While the cache is down
    # every read goes to the database (300 a second: ±25 over half a second). Right after
    # it is back, empty, the database still sees more than 1.5 times the old rate for a
    # quarter of a second (the popular keys come back first); within 15 s it is back near
    # the old rate.
    assert down == pytest.approx(300, abs=75)
    assert spike > 1.5 * before
    assert later == pytest.approx(before, rel=0.2)
    hits = requests.loc[(requests["arrival"] >= 30) & (requests["arrival"] < 30.5), "hit"]
    assert not hits.any()
    assert later == pytest.approx(before, rel=0.2)


@pytest.mark.parametrize("kwargs, name", [
    (dict(max_items=-1), "max_items"), (dict(max_items=2.5), "max_items"),
    (dict(policy="random"), "policy"), (dict(ttl=-1.0), "ttl"),
    (dict(on_write="ignore"), "on_write"), (dict(database="db"), "database"),
    (dict(failures=((-5.0, 1.0),)), "failures: fail_at"),
    (dict(failures=((5.0, 5.0),)), "failures"),
])
def test_cache_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Cache(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(key_skew=-0.5), "key_skew"), (dict(keys=0), "keys"),
])
def test_zipf_workload_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Workload(arrival_rate=1, requests=10, **kwargs)


def test_zipf_popularity_rejects_bad_input_and_sums_to_one():
    assert sum(theory.zipf_popularity(100, 1.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="skew"):
        theory.zipf_popularity(10, -1)
    with pytest.raises(ValueError, match="keys"):
        theory.zipf_popularity(0, 1.0)


# --- the tier's capacity: it depends on the hits ------------------------------------

def tier_traffic(rate=600):
    return Workload(arrival_rate=rate, duration=30, read_share=0.9, keys=1_000, key_skew=1.0,
                    seed=1)


def test_a_well_sized_cache_at_a_high_hit_ratio_is_stable():
    # 600 requests/s against a database that serves 400: without a cache, or with a tiny one,
    # the tier is offered more than it can take; with 500 of the 1,000 keys cached (hit
    # ratio ~0.78) the database sees about 180/s and the run is not flagged.
    assert simulate(Cache(max_items=0), tier_traffic()).summary["unstable"]
    assert simulate(Cache(max_items=10), tier_traffic()).summary["unstable"]
    summary = simulate(Cache(max_items=500), tier_traffic()).summary
    assert summary["hit_ratio"] > 0.7 and not summary["unstable"]
    assert summary["offered_load"] < 0.5


@pytest.mark.parametrize("size", [100, 200, 500])
def test_the_offered_load_of_a_cache_tier_is_its_databases_share(size):
    # The tier's capacity comes from replaying the workload through the store; the database
    # then runs at that load. Its measured utilisation sums ~12,000 exponential service
    # times (relative sd about 1 %), and the replay has no queues (a miss that waits longer
    # leaves its key uncached longer): within 0.03 of each other.
    summary = simulate(Cache(max_items=size), tier_traffic()).summary
    assert summary["offered_load"] == pytest.approx(summary["utilisation.database"], abs=0.03)


def test_when_the_hits_fill_the_cache_server_it_is_the_tiers_limit():
    # Every key fits and nothing is written: after the first misses, everything is a hit,
    # so the cache server (8 workers at 1 ms: 8,000/s) sets the tier's capacity. The misses:
    # each key's first read, and the reads of it in the 10 ms its copy takes to land (about
    # 10 at 1,000/s), so well under 50 of the ~10,000 requests.
    reads_only = Workload(arrival_rate=1_000, duration=10, read_share=1.0, keys=10, seed=1)
    capacity = Cache(max_items=10).capacity_for(reads_only)
    assert 8_000 < capacity < 8_000 / (1 - 50 / 10_000)


def test_back_to_back_failures_count_hits_as_one_long_one():
    # A failure that ends at 5 s and another that starts at 5 s leave the cache down (and
    # emptied) from 2 s to 9 s, in the estimate as in a run.
    arrivals = Workload(arrival_rate=100, duration=10, keys=5, seed=3).generate()
    split = Cache(failures=((2.0, 5.0), (5.0, 9.0))).hits_in(arrivals)
    assert split == Cache(failures=((2.0, 9.0),)).hits_in(arrivals)
