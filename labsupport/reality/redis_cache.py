"""The cache beside real Redis: sampled eviction against the textbook policies.

Picture a shelf measured in centimetres, not in files. Redis is told how many bytes it may
use (`maxmemory`), not how many items, and it counts its own bookkeeping in those bytes:
about a megabyte of its own at start, the table of keys, each connection's buffers. So how
many items a limit holds is found the honest way: fill it with items of one size and count
what stays.

    seeded Zipf keys --> cache-aside loop ------------> Redis on 127.0.0.1, no persistence
                         (GET; on a miss, SET)           maxmemory: holds `held` items
                                                         allkeys-lru or allkeys-lfu,
                                                         maxmemory-samples 5 or 10
    the same keys -----> labsupport's exact LRU, LFU and FIFO (`cache.replay`), and
                         Che's approximation for LRU, at the same capacity in items

`hit_ratios()` starts one Redis in a temporary folder (as `nobody` when run as root) and
stops it even when something fails. For each cache size `holding` finds a `maxmemory` and
the number of items it holds; `cache_aside` then sends the same key stream through Redis
once per policy and sample count; `beside_model` adds what the exact policies and Che's
approximation give for the same keys, warm-up and capacity.
"""

import shutil
import time

import pandas as pd

from ..components.cache import replay
from ..core import checks
from ..core.workload import Workload
from ..theory import che_lru_hit_ratio, zipf_popularity
from .processes import free_port, make_folder, start, stop

KEY = "key:{:06d}"  # every key ten characters long, so every item is the same size
SETTINGS = (("allkeys-lru", 5), ("allkeys-lru", 10), ("allkeys-lfu", 5), ("allkeys-lfu", 10))


def hit_ratios(catalogue=10_000, skew=1.0, requests=14_000, warm_up=6_000,
               shares=(0.01, 0.05, 0.2), value_bytes=4_000, seed=1):
    """Redis's hit ratio beside the exact policies: one row per cache size and setting.

    catalogue: distinct keys, asked for with Zipf exponent `skew`; requests: keys in the
    stream (drawn with `seed`), of which the first `warm_up` fill the cache and are not
    counted; shares: cache sizes as shares of the catalogue; value_bytes: every value's size."""
    import redis
    checks.count("catalogue", catalogue, minimum=10, maximum=100_000)
    checks.non_negative("skew", skew, maximum=checks.MAX_SKEW)
    checks.count("requests", requests, minimum=2, maximum=checks.MAX_REQUESTS)
    checks.count("warm_up", warm_up, minimum=0, maximum=requests - 1)
    for share in checks.sequence("shares", shares):
        checks.positive("shares", share, maximum=0.5)
    checks.count("value_bytes", value_bytes, maximum=100_000)
    keys = Workload(keys=catalogue, key_skew=skew, requests=requests,
                    seed=seed).generate().key.tolist()
    value = b"v" * value_bytes
    folder, port, rows, process = make_folder("ztm-rediscache-"), free_port(), [], None
    try:
        process = start(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--dir", str(folder)], port)
        client = redis.Redis(port=port)
        for share in shares:
            maxmemory, items = holding(client, max(round(share * catalogue), 1), value)
            startup = client.info("memory")["used_memory_startup"]
            for policy, samples in SETTINGS:
                client.config_set("maxmemory-policy", policy)
                client.config_set("maxmemory-samples", samples)
                rows.append({"share": share, "maxmemory": maxmemory, "startup": startup,
                             "items": items, "policy": policy, "samples": samples,
                             **cache_aside(client, keys, value, warm_up)})
        client.close()
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    table = pd.DataFrame(rows).assign(catalogue=catalogue, skew=skew, warm_up=warm_up,
                                      value_bytes=value_bytes, seed=seed)
    return beside_model(table, keys)


def holding(client, items, value):
    """A `maxmemory` for about `items` items of `value`, and how many it really holds.

    With no limit, write `items` items and take Redis's own `used_memory` as the limit.
    Then, under allkeys-lru, write new keys in rounds (each SET followed by a GET of it,
    as a cache's traffic) until evictions have begun (INFO's `evicted_keys` rises; DBSIZE
    falls behind the keys written) and DBSIZE is the same after two rounds."""
    client.config_set("maxmemory", 0)
    client.flushall()
    for number in range(items):
        client.set(KEY.format(number), value)
    maxmemory = client.info("memory")["used_memory"]
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_resetstat()
    client.config_set("maxmemory", maxmemory)
    number, counts = items, []
    while len(counts) < 2 or counts[-1] != counts[-2] or counts[-1] == number:
        if len(counts) > 50:
            raise RuntimeError(f"the number of items Redis held did not settle: {counts}")
        for _ in range(max(items // 4, 10)):
            client.set(KEY.format(number), value)
            client.get(KEY.format(number))  # answers too: Redis counts its buffers
            number += 1
        counts.append(client.dbsize())
    if client.info("stats")["evicted_keys"] != number - counts[-1]:
        raise RuntimeError("Redis lost keys other than by eviction")
    return maxmemory, counts[-1]


def cache_aside(client, keys, value, warm_up, looks=10):
    """Send `keys` through Redis, emptied first: GET each; on a miss, SET it (cache-aside).

    Counts the hits and misses after the first `warm_up` keys, notes Redis's own counters
    (INFO stats, over the whole stream), and looks `looks` times, evenly while the hits
    are counted, at how many items Redis holds (DBSIZE): `held` is the median."""
    client.flushall()
    client.config_resetstat()
    look_at = set(range(warm_up, len(keys), max((len(keys) - warm_up) // looks, 1)))
    hits, held, started = 0, [], time.perf_counter()
    for number, key in enumerate(keys):
        name = KEY.format(key)
        if client.get(name) is None:
            client.set(name, value)
        elif number >= warm_up:
            hits += 1
        if number in look_at:
            held.append(client.dbsize())
    seconds = time.perf_counter() - started
    stats = client.info("stats")
    counted = len(keys) - warm_up
    return {"requests": counted, "hits": hits, "misses": counted - hits,
            "hit_ratio": hits / counted, "seconds": seconds,
            "held": int(pd.Series(held).median()), "held_min": min(held),
            "held_max": max(held), "redis_hits": stats["keyspace_hits"],
            "redis_misses": stats["keyspace_misses"], "evicted": stats["evicted_keys"]}


def beside_model(measured, keys):
    """`measured` with the model's hit ratios for the same keys and capacities beside it.

    measured: one row per run, with `held` (the items Redis held while hits were counted),
    `warm_up`, `catalogue`, `skew`, `policy` ("allkeys-lru" or "allkeys-lfu") and
    `hit_ratio`. Adds exact LRU, LFU and FIFO (`cache.replay` of `keys`, counted after the
    same warm-up), Che's approximation for LRU, `exact` (the exact form of the row's
    policy) and `gap` (measured - exact)."""
    setting = ["held", "warm_up", "catalogue", "skew"]
    checks.columns("measured", measured, *setting, "policy", "hit_ratio")
    for policy in measured["policy"]:
        checks.one_of("policy", policy, ("allkeys-lru", "allkeys-lfu"))
    keys = checks.sequence("keys", keys)
    model = {}
    for held, warm_up, catalogue, skew in measured[setting].itertuples(index=False):
        if (held, warm_up, catalogue, skew) not in model:
            checks.count("warm_up", warm_up, minimum=0, maximum=len(keys) - 1)
            exact = {f"exact_{policy}": mean(replay(keys, int(held), policy)[int(warm_up):])
                     for policy in ("lru", "lfu", "fifo")}
            exact["che_lru"] = che_lru_hit_ratio(int(held), zipf_popularity(int(catalogue),
                                                                            skew))
            model[(held, warm_up, catalogue, skew)] = exact
    table = pd.concat([measured, pd.DataFrame(
        [model[tuple(row)] for row in measured[setting].itertuples(index=False)],
        index=measured.index)], axis=1)
    table["exact"] = table["exact_lru"].where(table["policy"] == "allkeys-lru",
                                              table["exact_lfu"])
    table["gap"] = table["hit_ratio"] - table["exact"]
    return table


def mean(hits):
    return sum(hits) / len(hits)
