"""A cache in front of the database: keep the popular answers close at hand.

Picture a reference desk with a small shelf beside a large archive. Asked for a
file, the clerk looks on the shelf first (a hit: quick); if it is not there (a
miss) she fetches it from the archive (slow) and puts a copy on the shelf. When
the shelf is full, one copy must go: the least recently used (LRU), the least
frequently used (LFU) or the oldest (FIFO). Copies may carry a date after which
they are thrown out (a time to live, TTL). When a file in the archive changes,
the clerk removes the shelf copy (invalidate), replaces it (update), or does
nothing and lets it expire: then she may hand out an outdated copy (a stale read).

`Store` is the shelf alone, with no clock of its own; `replay(keys, ...)` runs a
stream of keys through it, for hit ratios. `Cache` puts a store and a cache
server in front of a database server: reads ask the cache first (cache-aside),
misses read the database and fill the cache, writes go to the database and then
invalidate or update the cached copy. While the cache is down (its `failures`, given as
every component gives them) reads go straight to the database; it comes back empty.
"""

import bisect
import heapq
import math
from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from ..core import checks
from ..core.log import OK
from ..core.simulate import outages
from .server import Server

POLICIES = ("lru", "lfu", "fifo")
ON_WRITE = ("invalidate", "update", "none")


class Store:
    """Up to `max_items` items, each a (value, expires_at) pair, evicting by `policy`."""

    def __init__(self, max_items, policy="lru", ttl=None):
        self.max_items = checks.count("max_items", max_items, minimum=0, maximum=checks.MAX_KEYS)
        self.policy = checks.one_of("policy", policy, POLICIES)
        self.ttl = None if ttl is None else checks.non_negative("ttl", ttl,
                                                                 maximum=checks.MAX_TIME)
        self.items = OrderedDict()            # key -> (value, expires_at); order = LRU/FIFO
        self.uses = {}                        # key -> uses, for LFU
        self.by_uses = defaultdict(OrderedDict)  # uses -> keys with that many, oldest first
        self.fewest = 0                       # smallest number of uses in the store (LFU)

    def get(self, key, now):
        """The cached value of `key`, or None on a miss (absent or expired)."""
        if key not in self.items:
            return None
        value, expires_at = self.items[key]
        if now >= expires_at:
            self.delete(key)
            return None
        if self.policy == "lru":
            self.items.move_to_end(key)
        elif self.policy == "lfu":
            self._used(key)
        return value

    def set(self, key, value, now):
        """Store `value` for `key`, evicting one item if the store is full."""
        if self.max_items == 0:
            return
        if key not in self.items and len(self.items) >= self.max_items:
            self.delete(self._victim())
        expires_at = float("inf") if self.ttl is None else now + self.ttl
        self.items[key] = (value, expires_at)
        if self.policy == "lfu":
            self._used(key)
        elif self.policy == "lru":
            self.items.move_to_end(key)

    def delete(self, key):
        if self.items.pop(key, None) is not None and self.policy == "lfu":
            uses = self.uses.pop(key)
            del self.by_uses[uses][key]
            if not self.by_uses[uses]:
                del self.by_uses[uses]
                if uses == self.fewest:
                    self.fewest = min(self.by_uses, default=0)

    def flush(self):
        """Empty the store, as a restarted cache server comes back."""
        self.items.clear()
        self.uses.clear()
        self.by_uses.clear()
        self.fewest = 0

    def _victim(self):
        if self.policy != "lfu":
            return next(iter(self.items))  # least recently used (LRU) or oldest (FIFO)
        return next(iter(self.by_uses[self.fewest]))  # least used; the oldest among ties

    def _used(self, key):
        uses = self.uses.get(key, 0)
        if uses:
            del self.by_uses[uses][key]
            if not self.by_uses[uses]:
                del self.by_uses[uses]
                if uses == self.fewest:
                    self.fewest = uses + 1
        else:
            self.fewest = 1
        self.uses[key] = uses + 1
        self.by_uses[uses + 1][key] = None


def replay(keys, max_items, policy="lru"):
    """Run `keys` through an empty store, filling it on every miss; True for each hit."""
    store, hits = Store(max_items, policy), []
    keys = checks.sequence("keys", keys)
    for key in keys:
        if not isinstance(key, (str, int, float, bytes, tuple)) or isinstance(key, bool):
            raise ValueError(f"keys must be numbers or strings, got {key!r}")
        hit = store.get(key, 0.0) is not None
        if not hit:
            store.set(key, True, 0.0)
        hits.append(hit)
    return hits


@dataclass(frozen=True)
class Cache:
    """A cache server and its `Store` in front of `database` (a `Server`), cache-aside.

    max_items: most items it holds; ttl: seconds (None: no expiry); policy: "lru", "lfu", "fifo";
    on_write: "invalidate", "update" or "none"; server: the cache server (hits);
    failures: (fail_at, recover_at) pairs in seconds: the cache is down (every read is a
        miss, as an application that treats an unreachable cache as a miss does, and
        nothing is stored) and comes back empty, as a restart with no persistence does.
    """

    max_items: int = 100
    ttl: float | None = None
    policy: str = "lru"
    on_write: str = "invalidate"
    server: Server = Server(workers=8, mean_service_time=0.001, name="cache")
    database: object = Server(workers=4, mean_service_time=0.010, name="database")
    failures: tuple = ()

    def __post_init__(self):
        Store(self.max_items, self.policy, self.ttl)  # checks max_items, policy and ttl
        checks.one_of("on_write", self.on_write, ON_WRITE)
        checks.instance("server", self.server, Server, "a Server")
        checks.tier("database", self.database)
        object.__setattr__(self, "failures", checks.failures("failures", self.failures))

    def capacity_for(self, workload):
        """Requests per second the tier can take with this workload's mix of hits and misses:
        where the first of its two servers fills, the database (misses and writes) or the
        cache server (hits). The hits are counted by `hits_in(workload)`."""
        arrivals = workload.generate()
        database = self.database.capacity_for(workload)
        if len(arrivals) == 0:
            return database
        hit_share = self.hits_in(arrivals) / len(arrivals)
        to_database, to_cache = 1 - hit_share, hit_share
        return min(database / to_database if to_database else math.inf,
                   self.server.capacity / to_cache if to_cache else math.inf)

    def hits_in(self, arrivals):
        """Hits if the requests met this cache's store at their arrival times: expiry,
        evictions, writes and failures as in a run, and a miss's copy landing one mean
        database service time later; but no queues (at overload, fewer misses than a run)."""
        store, hits, up = Store(self.max_items, self.policy, self.ttl), 0, True
        fetch_time = fetch_seconds(self.database)
        events = []  # (moment, kind, key): 0 it recovers, 1 the cache fails, 2 a copy lands
        for fail_at, recover_at in self.failures:  # (back at t before failing again at t)
            events += [(fail_at, 1, None), (recover_at, 0, None)]
        heapq.heapify(events)
        for moment, key, write in zip(arrivals.time.tolist(), arrivals.key.tolist(),
                                      arrivals.is_write.tolist()):
            while events and events[0][0] <= moment:
                at, kind, landed = heapq.heappop(events)
                if kind == 1:
                    up = False
                    store.flush()
                elif kind == 0:
                    up = True
                elif up:
                    store.set(landed, True, at)
            if not up:
                continue  # a miss, and nothing kept
            if write and self.on_write == "invalidate":
                store.delete(key)
            elif write and self.on_write == "update":
                store.set(key, True, moment)
            elif not write and store.get(key, moment) is not None:
                hits += 1
            elif not write:
                heapq.heappush(events, (moment + fetch_time, 2, key))
        return hits

    def build(self, sim):
        return RunningCache(self, sim)


def fetch_seconds(database):
    """Mean seconds a miss takes to read `database` when it is idle: its service time, if it
    is one server, or its nodes' (a `Database`'s read time); else 0."""
    server = getattr(database, "node", database)
    return server.mean_service_time / server.speed if isinstance(server, Server) else 0.0


class RunningCache:
    """A `Cache` taking part in one run: the whole read and write path is here."""

    def __init__(self, spec, sim):
        self.spec, self.env, self.log = spec, sim.env, sim.log
        self.keys, self.is_write = sim.keys, sim.is_write
        self.store = Store(spec.max_items, spec.policy, spec.ttl)
        self.server = sim.tier(spec.server)
        self.database = sim.tier(spec.database)
        self.commits = {}   # key -> when each of its writes committed (version n: n-th time)
        self.rng = sim.random("cache")
        self.trip = spec.server.mean_service_time  # mean seconds from a commit to the cache
        self.up = True
        if spec.failures:
            self.env.process(outages(self.env, spec.failures, self.fail, self.recover))

    def accept(self, rid, reply):
        """Reads ask the cache first; misses and writes go to the database. Each copy of a
        request (a client may retry) carries its own `reply` to where its answer goes."""
        key, now = self.keys[rid], self.env.now
        if self.is_write[rid]:
            self.database.accept(rid, lambda rid, outcome: self.from_database(
                rid, outcome, reply, now))
            return
        cached = self.store.get(key, now) if self.up else None
        self.log.hit[rid] = cached is not None
        if cached is None:
            self.database.accept(rid, lambda rid, outcome: self.from_database(
                rid, outcome, reply, now))
        else:
            self.log.stale[rid] = cached < self.version_at(key, now)
            self.server.accept(rid, reply)

    def from_database(self, rid, outcome, reply, asked_at):
        """The database answered a miss or a write sent at `asked_at`."""
        key = self.keys[rid]
        if outcome != OK:
            pass
        elif self.is_write[rid]:  # committed; the application then tells the cache, a trip later
            self.commits.setdefault(key, []).append(self.env.now)
            version, trip = len(self.commits[key]), self.rng.expovariate(1 / self.trip)
            self.env.timeout(trip).callbacks.append(lambda _: self.tell_cache(key, version))
        else:  # a miss fills the cache with what it read when the database began serving it:
            # a write that committed since is not in it (a race). (For a copy whose client had
            # given up, the log keeps no start: the moment it was asked stands in.)
            started = self.log.start[rid]
            read_at = started if started >= asked_at else asked_at
            if self.up:
                self.store.set(key, self.version_at(key, read_at), self.env.now)
        reply(rid, outcome)

    def tell_cache(self, key, version):
        """After a write: delete the cached copy, or put the written `version` in its place
        (which, if a later write's update got there first, puts an older value back)."""
        if not self.up:
            return  # it will come back empty
        if self.spec.on_write == "invalidate":
            self.store.delete(key)
        elif self.spec.on_write == "update":
            self.store.set(key, version, self.env.now)

    def version_at(self, key, moment):
        """The version of `key` in the database at `moment`: the writes committed by then."""
        return bisect.bisect_right(self.commits.get(key, ()), moment)

    def fail(self):
        """Down (its contents lost) until it recovers, empty."""
        self.up = False
        self.store.flush()
        self.log.event(self.env.now, "cache", "fails")

    def recover(self):
        self.up = True
        self.log.event(self.env.now, "cache", "recovers")
