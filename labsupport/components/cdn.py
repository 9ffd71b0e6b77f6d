"""A content delivery network: copies of static files kept at edges near the users.

Picture a publisher with one warehouse (the origin) and a kiosk in every town (the edges).
A reader asks the kiosk in her own town for a magazine. If it has a copy that has not
expired, she has it at once (a hit); if not (a miss), the kiosk orders one from the
warehouse, a long trip away, keeps it for `ttl` seconds from the moment it arrived, and
hands it over. When the publisher prints a new edition (a deploy), kiosks still hold the
old one: they are told to throw it out (a purge, which takes `purge_delay` seconds to reach
them), or the new edition gets a new name that no kiosk has yet (versioned URLs, such as
`image.png?v=2`), or they sell the old one until it expires. If a town's kiosk closes (an
edge fails), or the whole chain does (the CDN fails), readers go to the warehouse
themselves, and the warehouse must cope with all of them.

`Region` is a group of users with its round trips; `Cdn` the edges, one per region, in
front of `origin` (any tier: a server, a balancer over web servers...). A user's round trip
to the edge (or to the origin) is charged as one wait before the request gets there; an
edge's own work is not modelled (edges are many and fast: the trips dominate). Each object
(a workload key) has a size in bytes, drawn once per run, for the traffic and its cost
(`traffic`).

Simplified: the edge-to-origin trip is the users' own trip to the origin (an edge sits near
its users); a miss does not wait for another miss of the same object already on its way
(nginx's `proxy_cache_lock` would make it wait; it is off by default), so a popular object
that expires sends a few requests to the origin at once; a deploy changes every object; an
edge comes back empty after it fails.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..core import checks
from ..core.log import OK
from ..core.simulate import outages
from .cache import Store
from .server import Server

INVALIDATION = ("purge", "versioned", "ttl")


@dataclass(frozen=True)
class Region:
    """Users in one place. share: their part of the requests (shares of all regions are
    scaled to sum to 1). edge_rtt, origin_rtt: seconds for a round trip from these users to
    their nearest edge, and to the origin. edge_failures: (fail_at, recover_at) pairs in
    seconds when their edge is down (its users then go to the origin)."""

    name: str
    share: float = 1.0
    edge_rtt: float = 0.020
    origin_rtt: float = 0.150
    edge_failures: tuple = ()

    def __post_init__(self):
        checks.text("name", self.name)
        checks.positive("share", self.share, maximum=checks.MAX_TIME)
        checks.non_negative("edge_rtt", self.edge_rtt, maximum=checks.MAX_TIME)
        checks.non_negative("origin_rtt", self.origin_rtt, maximum=checks.MAX_TIME)
        object.__setattr__(self, "edge_failures",
                           checks.failures("edge_failures", self.edge_failures))


@dataclass(frozen=True)
class Cdn:
    """Edges, one per region, caching the objects of `origin` for `ttl` seconds each.

    regions: a tuple of `Region`. origin: the tier behind the edges. ttl: seconds an
    object stays fresh from the moment the edge fetched it (as an HTTP cache counts it).
    max_items: most objects an edge holds (least recently used goes first; None: all).
    on_cdn: how many objects are served through the CDN, the most popular first (objects
        0, 1, 2...: a workload's key 0 is its most popular); the rest are fetched from the
        origin directly (None: every object).
    mean_object_bytes: the mean size of an object (sizes are exponential around it).
    enabled: False sends every user straight to the origin (no CDN at all).
    failures: (fail_at, recover_at) pairs when the whole CDN is down.
    deploys: seconds at which every object changes at the origin; invalidation: how the
    edges learn of it: "purge" (each edge empties `purge_delay` seconds after the deploy),
    "versioned" (new URLs: nothing old is ever asked for again) or "ttl" (old copies are
    served until they expire).
    """

    regions: tuple
    origin: object = Server(workers=8, mean_service_time=0.005, name="origin")
    ttl: float = 60.0
    max_items: int | None = None
    on_cdn: int | None = None
    mean_object_bytes: float = 100_000.0
    enabled: bool = True
    failures: tuple = ()
    deploys: tuple = ()
    invalidation: str = "purge"
    purge_delay: float = 5.0
    name: str = "cdn"

    def __post_init__(self):
        regions = checks.sequence("regions", self.regions, maximum=checks.MAX_SERVERS)
        if not regions:
            raise ValueError("regions must hold at least one Region, got ()")
        for region in regions:
            checks.instance("regions", region, Region, "a tuple of Region")
        names = [region.name for region in regions]
        if len(set(names)) != len(names):
            raise ValueError(f"regions must have different names, got {names}")
        object.__setattr__(self, "regions", tuple(regions))
        checks.tier("origin", self.origin)
        checks.non_negative("ttl", self.ttl, allow_inf=True, maximum=checks.MAX_TIME)
        if self.max_items is not None:
            checks.count("max_items", self.max_items, minimum=0, maximum=checks.MAX_KEYS)
        if self.on_cdn is not None:
            checks.count("on_cdn", self.on_cdn, minimum=0, maximum=checks.MAX_KEYS)
        checks.positive("mean_object_bytes", self.mean_object_bytes, maximum=1e12)
        checks.flag("enabled", self.enabled)
        object.__setattr__(self, "failures", checks.failures("failures", self.failures))
        deploys = [checks.non_negative("deploys", moment, maximum=checks.MAX_TIME)
                   for moment in checks.sequence("deploys", self.deploys,
                                                 maximum=checks.MAX_FAILURES)]
        if deploys != sorted(deploys):
            raise ValueError(f"deploys must be in time order, got {deploys}")
        object.__setattr__(self, "deploys", tuple(deploys))
        checks.one_of("invalidation", self.invalidation, INVALIDATION)
        checks.non_negative("purge_delay", self.purge_delay, maximum=checks.MAX_TIME)
        checks.text("name", self.name)

    def region_of(self, clients):
        """Each client's region (index into `regions`): clients 0, 1, 2... are split among
        the regions in proportion to their shares, in order. `clients`: all of a run's
        requests' clients (the split counts clients up to the largest number among them)."""
        shares = np.array([region.share for region in self.regions])
        bounds = np.cumsum(shares / shares.sum())
        clients = np.asarray(clients)
        count = clients.max() + 1 if len(clients) else 1
        return np.minimum(np.searchsorted(bounds, (clients + 0.5) / count),
                          len(self.regions) - 1)

    def capacity_for(self, workload):
        """Requests per second the whole can take: the origin's capacity, over the share of
        requests that reach it (the misses, and everything while the CDN is down), as
        `hits_in` counts them."""
        arrivals = workload.generate()
        origin = self.origin.capacity_for(workload)
        if len(arrivals) == 0:
            return origin
        to_origin = 1 - self.hits_in(arrivals) / len(arrivals)
        return origin / to_origin if to_origin > 0 else math.inf

    def hits_in(self, arrivals):
        """Hits if the requests met these edges at their arrival times: TTLs, sizes, which
        objects are on the CDN and every failure as in a run, a fetch taking no time, and
        no deploys (a purge or a new version only lowers the hits for a while)."""
        items = self.max_items if self.max_items is not None else checks.MAX_KEYS
        ttl = None if self.ttl == math.inf else self.ttl
        edges = [Store(items, "lru", ttl) for _ in self.regions]
        regions = self.region_of(arrivals.client)
        emptied = [0] * len(self.regions)  # each edge's failures that have emptied it
        hits = 0
        for moment, key, number in zip(arrivals.time.tolist(), arrivals.key.tolist(),
                                       regions.tolist()):
            windows = self.regions[number].edge_failures
            while emptied[number] < len(windows) and windows[emptied[number]][0] <= moment:
                edges[number].flush()  # the edge failed since: it comes back empty
                emptied[number] += 1
            if not self.enabled or (self.on_cdn is not None and key >= self.on_cdn) \
                    or _down(self.failures, moment) or _down(windows, moment):
                continue
            if edges[number].get(key, moment) is None:
                edges[number].set(key, True, moment)
            else:
                hits += 1
        return hits

    def build(self, sim):
        return RunningCdn(self, sim)


def _down(windows, moment):
    """Whether `moment` falls in one of the (fail_at, recover_at) `windows`."""
    return any(fail_at <= moment < recover_at for fail_at, recover_at in windows)


class RunningCdn:
    """A `Cdn` taking part in one run."""

    def __init__(self, spec, sim):
        self.spec, self.sim, self.env, self.log = spec, sim, sim.env, sim.log
        self.place = sim.log.place(spec.name, workers=0)
        self.edge_places = [sim.log.place(f"edge-{region.name}", workers=0)
                            for region in spec.regions]
        self.network = sim.log.tier_column("network")
        self.keys = sim.keys
        self.region = spec.region_of(sim.clients).tolist()
        items = spec.max_items if spec.max_items is not None else checks.MAX_KEYS
        self.edges = [Store(items, "lru", None if spec.ttl == math.inf else spec.ttl)
                      for _ in spec.regions]
        self.edge_up = [True] * len(spec.regions)
        self.up = True
        self.version = 0  # deploys so far: the origin's current version of every object
        with sim.behind():
            self.origin = sim.tier(spec.origin)
        for number, region in enumerate(spec.regions):
            if region.edge_failures:
                self.env.process(outages(self.env, region.edge_failures,
                                         lambda n=number: self.set_edge(n, False),
                                         lambda n=number: self.set_edge(n, True)))
        if spec.failures:
            self.env.process(outages(self.env, spec.failures, lambda: self.set_cdn(False),
                                     lambda: self.set_cdn(True)))
        if spec.deploys:
            self.env.process(self.deploy())

    def accept(self, rid, reply):
        """A user asks for an object: from her edge, or from the origin if the object is not
        on the CDN or her edge is down."""
        number = self.region[rid]
        region = self.spec.regions[number]
        self.log.where[rid] = self.place
        on_cdn = self.spec.on_cdn is None or self.keys[rid] < self.spec.on_cdn
        if on_cdn and self.spec.enabled and self.up and self.edge_up[number]:
            self.log.edge[rid] = self.edge_places[number]
            self.after(region.edge_rtt, rid, lambda: self.at_edge(rid, reply, number))
        else:  # straight to the origin, the whole way
            self.after(region.origin_rtt, rid, lambda: self.origin.accept(rid, reply))

    def after(self, seconds, rid, then):
        """Call `then()` once `seconds` of network time have passed for request `rid`."""
        self.network[rid] += seconds
        if seconds == 0:
            then()
        else:
            self.env.timeout(seconds).callbacks.append(lambda _: then())

    def at_edge(self, rid, reply, number):
        """The request reaches its edge: a fresh copy answers it; else fetch from the origin."""
        edge, key = self.edges[number], self.url(rid)
        cached = edge.get(key, self.env.now) if self.edge_up[number] else None
        self.log.hit[rid] = cached is not None
        if cached is not None:
            self.log.where[rid] = self.edge_places[number]
            self.log.stale[rid] = cached < self.version
            reply(rid, OK)
            return
        version = self.version  # what the origin holds as the edge asks (a deploy may follow)
        fetched = lambda rid, outcome: self.fetched(  # noqa: E731
            rid, outcome, reply, number, key, version)
        self.after(self.spec.regions[number].origin_rtt, rid,
                   lambda: self.origin.accept(rid, fetched))

    def url(self, rid):
        """What the user asks for: the object, or with versioned URLs, its current version."""
        key = self.keys[rid]
        return (key, self.version) if self.spec.invalidation == "versioned" else key

    def fetched(self, rid, outcome, reply, number, key, version):
        """The origin answered an edge's miss: keep the copy, then answer the user."""
        if outcome == OK and self.edge_up[number]:
            self.edges[number].set(key, version, self.env.now)
        reply(rid, outcome)

    def set_edge(self, number, up):
        """Edge `number` goes down (emptied) or comes back."""
        self.edge_up[number] = up
        if not up:
            self.edges[number].flush()
        name = f"edge-{self.spec.regions[number].name}"
        self.log.event(self.env.now, name, "recovers" if up else "fails")

    def set_cdn(self, up):
        """The whole CDN goes down or comes back. (The edges keep their copies through it,
        unlike an edge that fails alone; a request already on its way to an edge is still
        answered there.)"""
        self.up = up
        self.log.event(self.env.now, self.spec.name, "recovers" if up else "fails")

    def deploy(self):
        """At each deploy every object changes; a purge reaches the edges later."""
        for moment in self.spec.deploys:
            yield self.env.timeout(moment - self.env.now)
            self.version += 1
            self.log.event(self.env.now, "origin", "deploys")
            if self.spec.invalidation == "purge":
                self.env.process(self.purge())

    def purge(self):
        yield self.env.timeout(self.spec.purge_delay)
        for edge in self.edges:
            edge.flush()
        self.log.event(self.env.now, self.spec.name, "purged")


def regions_of(result, cdn):
    """The region of each request of a run of `cdn`, by name (as the run split its users)."""
    checks.instance("cdn", cdn, Cdn, "a Cdn")
    clients = checks.columns("result.requests", result.requests, "client")["client"]
    names = np.array([region.name for region in cdn.regions])
    return names[cdn.region_of(clients.to_numpy())]


@dataclass(frozen=True)
class TransferPrices:
    """What a CDN and an origin charge, in dollars: per GB (10^9 bytes) the edges send to
    users, per GB of cache fill (origin to edge), per GB the origin sends to users directly,
    and per 10,000 requests the edges answer. Illustrative, of the order of public list
    prices, not any provider's: put in the prices you pay."""

    edge_per_gb: float = 0.08
    fill_per_gb: float = 0.02
    origin_per_gb: float = 0.09
    edge_per_10k_requests: float = 0.0075

    def __post_init__(self):
        for name in ("edge_per_gb", "fill_per_gb", "origin_per_gb", "edge_per_10k_requests"):
            checks.non_negative(name, getattr(self, name), maximum=1e6)


def object_bytes(keys, mean_object_bytes, seed):
    """Each of `keys` objects' size in bytes: exponential around the mean (at least one
    byte), drawn from `seed` (the same objects, the same sizes, in every design)."""
    keys = checks.count("keys", keys, maximum=checks.MAX_KEYS)
    checks.positive("mean_object_bytes", mean_object_bytes, maximum=1e12)
    sizes = np.random.default_rng([checks.count("seed", seed, minimum=0), 20_240]).exponential(
        mean_object_bytes, keys)
    return np.maximum(np.round(sizes), 1.0)


def traffic(result, cdn, prices=TransferPrices(), region=None):
    """What a run of `cdn` sent, and what it cost: requests the edges answered (hits) and
    those the origin served; GB the edges sent to users, GB of cache fills (origin to edge)
    and GB the origin sent to users directly; the cost at `prices`. Object sizes come from
    `object_bytes` with the run's seed. region: the name of one region, to count only its
    users' requests (None: everyone's)."""
    checks.instance("cdn", cdn, Cdn, "a Cdn")
    checks.instance("prices", prices, TransferPrices, "a TransferPrices")
    requests = checks.columns("result.requests", result.requests, "key", "hit", "edge",
                              "outcome", "client", "server")
    if region is not None:
        checks.one_of("region", region, tuple(r.name for r in cdn.regions))
        requests = requests[regions_of(result, cdn) == region]
    keys = int(result.params.get("workload.keys", requests["key"].max() + 1))
    sizes = object_bytes(keys, cdn.mean_object_bytes, int(result.params.get("workload.seed", 0)))
    served = requests[requests["outcome"] == OK]
    size = sizes[served["key"].to_numpy()]
    via_edge = (served["edge"] != "-").to_numpy()
    # an edge's hit is answered by that edge (`hit` alone may be a cache's behind the origin)
    hit = via_edge & (served["server"].astype(str) == served["edge"].astype(str)).to_numpy()
    edge_gb = size[via_edge].sum() / 1e9
    fill_gb = size[via_edge & ~hit].sum() / 1e9
    direct_gb = size[~via_edge].sum() / 1e9
    cost = (edge_gb * prices.edge_per_gb + fill_gb * prices.fill_per_gb
            + direct_gb * prices.origin_per_gb
            + via_edge.sum() / 10_000 * prices.edge_per_10k_requests)
    return {"requests": len(requests), "served": len(served), "edge_hits": int(hit.sum()),
            "origin_requests": int((~hit).sum()), "edge_gb": float(edge_gb),
            "fill_gb": float(fill_gb), "direct_gb": float(direct_gb),
            "origin_gb": float(fill_gb + direct_gb), "cost": float(cost)}
