"""Theory: what a run is held against. The closed forms are here; `uptime` draws
failures to measure uptime, and `costs` prices machines.

A coffee shop counter: c baristas, one queue, customers arriving at random.

Queueing theory (M/M/c: random arrivals, random service times, c workers)
says how long that queue gets, with no simulation at all. The labs draw these
closed-form results beside the simulated ones. Time is in seconds, rates in
requests per second.

- utilisation: how busy each worker is (rho).
- erlang_b, erlang_c: probability all workers are busy (no waiting room), and probability
  an arriving request has to wait (M/M/c), for up to a billion workers.
- mmc_mean_wait, mmc_mean_response, mmc_wait_percentile: M/M/c delays.
- mm1_mean_response, mm1_response_percentile: the single-server case.
- mg1_mean_wait: one server with any service-time distribution (Pollaczek-Khinchine).
- littles_law_in_system: mean number of requests inside (L = lambda * W).
- availability, availability_any_of, downtime_per_year, nines: uptime.
- mmc_curve: rows of theory to draw beside a simulated sweep.
- zipf_popularity, che_lru_hit_ratio: how often each key is asked for, and the
  hit ratio of an LRU cache under those requests (Che's approximation).
- ttl_hit_ratio, ttl_cache_hit_ratio: the hit ratio of a cache that keeps each object a
  fixed time from its fetch (a CDN edge), for one object and for a catalogue.

An unstable queue (utilisation >= 1) grows without bound, so the waiting and
response functions return math.inf rather than raising: a lab can draw the
curve right up to its asymptote. Bad input raises ValueError naming the
parameter.
"""

import math

import numpy as np

from ..core.checks import (MAX_KEYS, MAX_TIME, MIN_SERVICE_TIME, count, non_negative,
                           open_share, positive, sequence, share, shown)
# The popularity a Workload draws keys from, here beside Che's approximation that takes it.
from ..core.workload import zipf_popularity  # noqa: F401

SECONDS_PER_YEAR = 365 * 24 * 3600


MAX_WORKERS = MAX_SERVERS = 10**9
"""The most workers (of one M/M/c queue) or servers (for availability) a formula here takes
(none loops over them)."""
MAX_RATE = 1e15
"""The highest arrival rate a formula here takes, requests per second (with MAX_TIME, the
longest mean time, every answer stays a finite number)."""
MAX_K_OF_N = 10_000
"""The most servers k-of-n availability takes (it sums over them)."""


def utilisation(arrival_rate, mean_service_time, workers=1):
    """Fraction of time each worker is busy (rho, no unit); >= 1 means unstable."""
    arrival_rate = positive("arrival_rate", arrival_rate, maximum=MAX_RATE)
    mean_service_time = positive("mean_service_time", mean_service_time, maximum=MAX_TIME,
                                 minimum=MIN_SERVICE_TIME)
    return arrival_rate * mean_service_time / count("workers", workers, maximum=MAX_WORKERS)


def erlang_b(offered_load, workers):
    """Probability that all `workers` are busy, for a Poisson `offered_load` (in Erlangs)
    with no waiting room (Erlang B), for offered_load < workers.

    B = P(N = c) / P(N <= c) for N Poisson with mean a = offered_load. P(N = c) comes from
    logarithms (no overflow), and P(N > c) is summed from c upwards, where its terms shrink
    at least geometrically (a / k < 1): a few dozen terms for ten workers, at most a few
    hundred thousand for a billion a hair below capacity, never a loop over all of them."""
    if offered_load <= 0:  # so little traffic that its product underflowed: never blocked
        return 0.0
    term = math.exp(workers * math.log(offered_load) - offered_load
                    - math.lgamma(workers + 1))
    tail, k, next_term = 0.0, workers, term
    while True:
        k += 1
        next_term *= offered_load / k
        tail += next_term
        if next_term <= 1e-17 * max(tail, term, 1e-300):
            break
    return term / (1 - tail)


def erlang_c(arrival_rate, mean_service_time, workers):
    """Probability that an arriving request must wait in M/M/c (Erlang C); 1.0 if unstable.

    From Erlang B: C = B / (1 - rho (1 - B)); stable for any number of workers."""
    rho = utilisation(arrival_rate, mean_service_time, workers)
    if rho >= 1:
        return 1.0
    blocking = erlang_b(arrival_rate * mean_service_time, workers)
    return blocking / (1 - rho * (1 - blocking))


def mmc_mean_wait(arrival_rate, mean_service_time, workers=1):
    """Mean time in the queue before service starts in M/M/c, in seconds (inf if unstable)."""
    if utilisation(arrival_rate, mean_service_time, workers) >= 1:
        return math.inf
    wait_probability = erlang_c(arrival_rate, mean_service_time, workers)
    return wait_probability / (workers / mean_service_time - arrival_rate)


def mmc_mean_response(arrival_rate, mean_service_time, workers=1):
    """Mean time in the system (queue + service) in M/M/c, in seconds (inf if unstable)."""
    return mmc_mean_wait(arrival_rate, mean_service_time, workers) + mean_service_time


def mm1_mean_response(arrival_rate, mean_service_time):
    """Mean response time of one server, 1 / (mu - lambda) seconds; inf if unstable."""
    if utilisation(arrival_rate, mean_service_time) >= 1:
        return math.inf
    return 1 / (1 / mean_service_time - arrival_rate)


def mg1_mean_wait(arrival_rate, mean_service_time, service_scv):
    """Mean queueing time of one server with any service distribution (Pollaczek-Khinchine).

    service_scv: squared coefficient of variation of service time (variance / mean^2):
    1 for exponential, 0 for deterministic. Seconds; inf if unstable."""
    rho = utilisation(arrival_rate, mean_service_time)
    scv = non_negative("service_scv", service_scv)
    if rho >= 1:
        return math.inf
    return (1 + scv) / 2 * rho / (1 - rho) * mean_service_time


def mm1_response_percentile(arrival_rate, mean_service_time, q):
    """q-quantile (q in (0, 1), e.g. 0.99) of M/M/1 FIFO response time, in seconds.

    Response time is exponential with rate mu - lambda; inf if unstable."""
    q = open_share("q", q)
    return -math.log1p(-q) * mm1_mean_response(arrival_rate, mean_service_time)


def mmc_wait_percentile(arrival_rate, mean_service_time, workers, q):
    """q-quantile of the time spent queueing in M/M/c, in seconds; inf if unstable.

    P(wait > t) = C * exp(-(c*mu - lambda) * t), so the quantile is 0 when q <= 1 - C."""
    q = open_share("q", q)
    if utilisation(arrival_rate, mean_service_time, workers) >= 1:
        return math.inf
    wait_probability = erlang_c(arrival_rate, mean_service_time, workers)
    if wait_probability <= 1 - q:
        return 0.0
    drain_rate = workers / mean_service_time - arrival_rate
    return math.log(wait_probability / (1 - q)) / drain_rate


def littles_law_in_system(arrival_rate, mean_response_time):
    """Mean number of requests in the system, L = arrival_rate * mean_response_time."""
    return positive("arrival_rate", arrival_rate, maximum=MAX_RATE) * positive(
        "mean_response_time", mean_response_time, maximum=MAX_TIME)


def availability(mtbf, mttr):
    """Steady-state fraction of time one server is up, MTBF / (MTBF + MTTR).

    mtbf and mttr in seconds (or any one unit, as long as both share it)."""
    mtbf, mttr = positive("mtbf", mtbf, maximum=1e12), positive("mttr", mttr, maximum=1e12)
    return mtbf / (mtbf + mttr)


def availability_any_of(mtbf, mttr, servers):
    """Availability of `servers` redundant copies, up while at least one is up.

    Failures are independent: 1 - (1 - A) ** servers."""
    mtbf, mttr = positive("mtbf", mtbf, maximum=1e12), positive("mttr", mttr, maximum=1e12)
    return 1 - (mttr / (mtbf + mttr)) ** count("servers", servers, maximum=MAX_SERVERS)


def availability_k_of_n(mtbf, mttr, servers, needed=1, detection_delay=0.0):
    """Availability of a tier that needs `needed` of its `servers` up (a fleet sized N + 1
    needs N of N + 1), counting as down the `detection_delay` seconds after each failure
    that leaves enough up (until whatever routes around it notices).

    With independent failures, j machines are up with the binomial probability
    C(n, j) A^j (1 - A)^(n - j); from j up, failures come at j / mtbf per second. The
    detection term is first order in detection_delay / mtbf (two failures within one
    detection delay are counted twice)."""
    mtbf, mttr = positive("mtbf", mtbf, maximum=1e12), positive("mttr", mttr, maximum=1e12)
    servers = count("servers", servers, maximum=MAX_K_OF_N)
    needed = count("needed", needed, maximum=servers)
    detection_delay = non_negative("detection_delay", detection_delay, maximum=MAX_TIME)
    up = mtbf / (mtbf + mttr)

    def exactly(j):  # P(exactly j of the servers up), from logarithms (no overflow)
        if up == 1:
            return float(j == servers)
        return math.exp(math.lgamma(servers + 1) - math.lgamma(j + 1)
                        - math.lgamma(servers - j + 1) + j * math.log(up)
                        + (servers - j) * math.log1p(-up))
    too_few = sum(exactly(j) for j in range(needed))
    unnoticed = detection_delay * sum(exactly(j) * j / mtbf
                                      for j in range(needed + 1, servers + 1))
    return max(0.0, 1 - too_few - unnoticed)


def availability_in_series(*availabilities):
    """Availability of components a request needs one after another (a balancer, then the
    web tier, then the database), failing independently: the product of theirs."""
    if not availabilities:
        raise ValueError("availabilities must hold at least one availability")
    return math.prod(share("availabilities", a) for a in availabilities)


def downtime_per_year(availability):
    """Seconds of downtime in a 365-day year at the given availability (in [0, 1])."""
    return (1 - share("availability", availability)) * SECONDS_PER_YEAR


def nines(availability):
    """Number of nines, -log10(1 - availability): 0.999 gives 3.0; inf for 1.0."""
    availability = share("availability", availability)
    if availability == 1:
        return math.inf
    return 0.0 - math.log10(1 - availability)


def mmc_curve(arrival_rates, mean_service_time, workers=1):
    """Rows to draw: arrival_rate, offered_load, metric and latency (seconds).

    The mean for any number of workers; p50 and p99 too when workers is 1 (M/M/1
    response time is exponential). Unstable rates (load >= 1) are left out."""
    rows = []
    for rate in sequence("arrival_rates", arrival_rates):
        load = utilisation(rate, mean_service_time, workers)
        if load >= 1:
            continue
        latencies = {"mean": mmc_mean_response(rate, mean_service_time, workers)}
        if workers == 1:
            latencies["p50"] = mm1_response_percentile(rate, mean_service_time, 0.5)
            latencies["p99"] = mm1_response_percentile(rate, mean_service_time, 0.99)
        rows += [{"arrival_rate": rate, "offered_load": load, "metric": metric,
                  "latency": latency} for metric, latency in latencies.items()]
    return rows


def che_lru_hit_ratio(max_items, popularity):
    """Hit ratio of an LRU cache holding `max_items` items, requests independent with the
    given `popularity` (each key's share of requests; scaled to sum to 1). Che's
    approximation: find the time T in which `max_items` distinct keys are asked for,
    sum(1 - exp(-p T)) = max_items; a key is then cached with probability 1 - exp(-p T)."""
    max_items = count("max_items", max_items, minimum=0, maximum=MAX_KEYS)
    shares = [non_negative("popularity", share) for share in sequence(
        "popularity", popularity, maximum=MAX_KEYS)]
    p = np.array(shares, dtype=float)
    if not p.max(initial=0.0) > 0:
        raise ValueError(f"popularity must have a share > 0 somewhere, got {shown(popularity)}")
    p = p / p.max()  # scaled twice, so neither the sum overflows nor a share underflows
    p = p[p > 0] / p[p > 0].sum()
    p = p[p > 0]  # a key too rare to count next to the others is never asked for
    if max_items == 0:
        return 0.0
    if max_items >= len(p):  # every key that is ever asked for fits
        return 1.0
    distinct = lambda t: float(-np.expm1(-p * t).sum())  # noqa: E731
    low, high = 0.0, 1.0
    while distinct(high) < max_items:
        high *= 2
    for _ in range(100):  # bisection: distinct() grows with t
        middle = (low + high) / 2
        low, high = (middle, high) if distinct(middle) < max_items else (low, middle)
    t = (low + high) / 2
    return float((p * -np.expm1(-p * t)).sum())


def ttl_hit_ratio(request_rate, ttl):
    """Hit ratio of one object asked for as a Poisson stream at `request_rate` per second by
    a cache that keeps it `ttl` seconds from each fetch (and fetches at once).

    Each cycle is one miss, which fetches the object, then the requests that arrive within
    ttl seconds: request_rate * ttl of them on average. So the share of hits is
    request_rate * ttl / (1 + request_rate * ttl)."""
    rate = non_negative("request_rate", request_rate, maximum=1e12)
    ttl = non_negative("ttl", ttl, allow_inf=True, maximum=MAX_TIME)
    if ttl == math.inf:
        return 1.0 if rate > 0 else 0.0
    return rate * ttl / (1 + rate * ttl)


def ttl_cache_hit_ratio(arrival_rate, ttl, popularity):
    """Hit ratio of a TTL cache with room for every object, over a catalogue: requests at
    `arrival_rate` per second, object k asked for with share popularity[k] (scaled to sum
    to 1), each object's hits as `ttl_hit_ratio` gives them at its own rate."""
    rate = non_negative("arrival_rate", arrival_rate, maximum=1e12)
    shares = np.array([non_negative("popularity", share) for share in sequence(
        "popularity", popularity, maximum=MAX_KEYS)], dtype=float)
    if not shares.sum() > 0:
        raise ValueError(f"popularity must have a share > 0 somewhere, got {shown(popularity)}")
    shares = shares / shares.sum()
    return float(sum(share * ttl_hit_ratio(rate * share, ttl) for share in shares))
