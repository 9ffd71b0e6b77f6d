"""Workloads: the users knocking on the door.

Picture the front door of a shop on a busy afternoon. People walk in one at a
time, at random, about `arrival_rate` of them a second; nobody waits for the
person before them to leave (an *open* workload). Most come to look around
(reads), a few to buy (writes), and each asks about one item (a key).

`Workload` holds the parameters. `Workload.generate()` draws every random number
up front, from a seeded generator, and returns `Arrivals`: for each request its
arrival time (seconds), its size (a multiple of the mean service time), whether
it is a write, and its key. Drawing up front gives *common random numbers*: the
same seed gives the same users at every slider position, so a curve moves
smoothly as a parameter changes instead of jittering, and two designs are
compared on exactly the same traffic.

Each stream (gaps, sizes, kinds, keys, clients) has its own generator, spawned from the
seed, so changing the read share does not change the arrival times.

Traffic that changes over the day (`rate_profile`) is drawn by *thinning*: first the
arrivals of a steady stream at the highest rate, `arrival_rate`, exactly as without a
profile; then each one is kept with probability rate(t) / arrival_rate, by a draw of its
own. What is kept is exactly a Poisson process whose rate follows the profile (Lewis and
Shedler, 1979), and common random numbers hold as far as thinning allows: the same seed
gives the same candidates at every profile, each with its own size, kind, key and user drawn
before thinning, and a profile that is higher everywhere keeps every request a lower one
kept (the same requests), and more.
"""

from dataclasses import dataclass

import numpy as np

from . import checks


def zipf_popularity(keys, skew):
    """Share of requests for each of `keys` keys, key k in proportion to 1 / (k + 1) ** skew.

    skew 0 is uniform; around 1 a few keys take most requests (web pages, products).
    Worked out from logarithms, so a steep skew gives key 0 everything, not an overflow."""
    keys = checks.count("keys", keys, maximum=checks.MAX_KEYS)
    skew = checks.non_negative("skew", skew, maximum=checks.MAX_SKEW)
    weights = np.exp(-skew * np.log(np.arange(1, keys + 1)))
    return (weights / weights.sum()).tolist()


def day_profile(trough_share=0.25, peak_hour=20.0, points_per_hour=4):
    """A day of traffic as a `rate_profile` table: (seconds, share of the peak) every
    1 / `points_per_hour` hour from 0 to 24 h, a smooth wave lowest 12 hours from
    `peak_hour`, at `trough_share`, and 1 at `peak_hour` (a cosine: one peak a day)."""
    checks.share("trough_share", trough_share)
    checks.non_negative("peak_hour", peak_hour, maximum=24)
    checks.count("points_per_hour", points_per_hour, maximum=60)
    hours = np.linspace(0, 24, 24 * points_per_hour + 1)
    wave = (1 + np.cos(2 * np.pi * (hours - peak_hour) / 24)) / 2
    return tuple((float(hour * 3600), float(trough_share + (1 - trough_share) * height))
                 for hour, height in zip(hours, wave))


def with_spike(profile, start, duration, share=1.0):
    """`profile` (a table) with a flash spike: at least `share` of the peak from `start`
    for `duration` seconds, stepping up and down at once (a sale, a link on a front page)."""
    profile = checked_profile(profile)
    checks.non_negative("start", start, maximum=checks.MAX_TIME)
    checks.positive("duration", duration, maximum=checks.MAX_TIME)
    checks.share("share", share)
    end = start + duration
    inside = sorted({time for time, _ in profile if start < time < end}
                    | {cross for cross in _crossings(profile, share) if start < cross < end})
    before = [(time, rate) for time, rate in profile if time < start]
    after = [(time, rate) for time, rate in profile if time > end]
    return tuple(before + [(start, profile_share(profile, start, before_step=True))]
                 + [(time, max(profile_share(profile, time), share))
                    for time in [start, *inside, end]]
                 + [(end, profile_share(profile, end))] + after)


def _crossings(profile, share):
    """The times where the table's straight lines cross `share`."""
    return [t0 + (share - s0) * (t1 - t0) / (s1 - s0)
            for (t0, s0), (t1, s1) in zip(profile, profile[1:])
            if t1 > t0 and min(s0, s1) < share < max(s0, s1)]


def checked_profile(profile):
    """A rate table checked: (seconds, share) pairs, times increasing (two points at one
    time make a step), shares between 0 and 1. Returned as a tuple of float pairs."""
    points = checks.sequence("rate_profile", profile, maximum=100_000)
    if not points:
        raise ValueError("rate_profile must be a non-empty table of (seconds, share of "
                         "arrival_rate) points, or a function of time, got ()")
    table = []
    for point in points:
        if isinstance(point, (str, bytes)) or not hasattr(point, "__len__") or len(point) != 2:
            raise ValueError(f"rate_profile must be (seconds, share) pairs, "
                             f"got {checks.shown(point)}")
        table.append((checks.non_negative("rate_profile: time", point[0],
                                          maximum=checks.MAX_TIME),
                      checks.share("rate_profile: share", point[1])))
    times = [time for time, _ in table]
    if any(later < earlier for earlier, later in zip(times, times[1:])) or any(
            a == b == c for a, b, c in zip(times, times[1:], times[2:])):
        raise ValueError(f"rate_profile's times must increase (at most two points at one "
                         f"time, a step), got {checks.shown(times)}")
    return tuple(table)


def profile_share(profile, time, before_step=False):
    """The share of the peak a checked table gives at `time` (an array of times, or
    one): straight lines between its points, flat before the first and after the last;
    at a step, the later point (or the earlier with `before_step`)."""
    times, shares = (np.array(column, dtype=float) for column in zip(*profile))
    at = np.asarray(time, dtype=float)
    left = np.searchsorted(times, at, side="left" if before_step else "right") - 1
    i = np.clip(left, 0, len(times) - 1)
    j = np.minimum(i + 1, len(times) - 1)
    span = times[j] - times[i]
    slope = np.divide(shares[j] - shares[i], span, out=np.zeros_like(span), where=span > 0)
    value = np.where(left < 0, shares[0], shares[i] + slope * (at - times[i]))
    return float(value) if value.ndim == 0 else value


@dataclass(frozen=True)
class Arrivals:
    """Every request of one workload run, as arrays indexed by request number."""

    gap: np.ndarray       # seconds since the previous arrival (the first: since 0)
    time: np.ndarray      # arrival time, seconds: the running sum of the gaps
    size: np.ndarray      # service demand in multiples of the mean (mean 1)
    is_write: np.ndarray  # True for a write, False for a read
    key: np.ndarray       # which item the request is about, 0 .. keys-1
    client: np.ndarray    # which user sent it, 0 .. clients-1
    end: float            # when arrivals stop, seconds

    def __len__(self):
        return len(self.gap)


@dataclass(frozen=True)
class Workload:
    """Poisson arrivals at `arrival_rate` requests per second.

    Give either `duration` (seconds of arrivals) or `requests` (how many).
    `read_share` is the share of requests that are reads; `keys` how many
    distinct items they ask about, key k with a share proportional to
    1 / (k + 1) ** `key_skew` (Zipf; 0 is uniform); `clients` how many users send
    them, user c with a share proportional to 1 / (c + 1) ** `client_skew` (0: all
    alike; above 0 a few heavy users send most). With `own_keys`, each user reads and
    writes only their own item (a profile, say): key = client. `seed` fixes every draw.

    rate_profile: traffic that changes over time, as shares of `arrival_rate` (which is
    then the highest rate): a table of (seconds, share) points joined by straight lines
    (two points at one time make a step; see `day_profile` and `with_spike`), or a
    function of time returning a share between 0 and 1 (defined at module level if the
    workload goes to a sweep's worker processes). Needs `duration`.
    """

    arrival_rate: float = 50.0
    duration: float | None = None
    requests: int | None = None
    read_share: float = 1.0
    keys: int = 1
    key_skew: float = 0.0
    clients: int = 1
    own_keys: bool = False
    seed: int = 1
    client_skew: float = 0.0
    rate_profile: object = None

    def __post_init__(self):
        rate = checks.positive("arrival_rate", self.arrival_rate, maximum=checks.MAX_RATE)
        if rate < checks.MIN_RATE:
            raise ValueError(f"arrival_rate must be at least {checks.MIN_RATE:g} (requests/s), "
                             f"got {self.arrival_rate!r}")
        if (self.duration is None) == (self.requests is None):
            raise ValueError("give exactly one of duration (seconds > 0) or requests "
                             f"(a count >= 1), got duration={self.duration!r}, "
                             f"requests={self.requests!r}")
        if self.duration is not None:
            checks.positive("duration", self.duration, maximum=checks.MAX_TIME)
            if rate * self.duration > checks.MAX_REQUESTS:
                raise ValueError(f"arrival_rate * duration must be at most "
                                 f"{checks.MAX_REQUESTS:,} requests, got "
                                 f"{rate * self.duration:,.0f}")
        else:
            checks.count("requests", self.requests, maximum=checks.MAX_REQUESTS)
            if self.requests / rate > checks.MAX_TIME:
                raise ValueError(f"requests / arrival_rate (the seconds the arrivals last) must "
                                 f"be at most {checks.MAX_TIME:,.0f}, "
                                 f"got {self.requests / rate:,.0f}")
        checks.share("read_share", self.read_share)
        checks.count("keys", self.keys, maximum=checks.MAX_KEYS)
        checks.non_negative("key_skew", self.key_skew, maximum=checks.MAX_SKEW)
        checks.count("clients", self.clients, maximum=checks.MAX_CLIENTS)
        checks.flag("own_keys", self.own_keys)
        checks.count("seed", self.seed, minimum=0, maximum=checks.MAX_SEED)
        checks.non_negative("client_skew", self.client_skew, maximum=checks.MAX_SKEW)
        if self.rate_profile is not None:
            if self.duration is None:
                raise ValueError("rate_profile needs duration (seconds > 0), not requests: "
                                 "the profile says when requests come, not how many")
            if not callable(self.rate_profile):
                object.__setattr__(self, "rate_profile", checked_profile(self.rate_profile))

    def rate_at(self, times):
        """Requests per second the workload sends at each of `times` (seconds)."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        return self.arrival_rate * self._shares(times)

    def _shares(self, times):
        """The profile's share of the peak at each of `times` (1 without a profile)."""
        if self.rate_profile is None:
            return np.ones(len(times))
        if callable(self.rate_profile):
            shares = np.array([self.rate_profile(time) for time in times.tolist()], float)
        else:
            shares = profile_share(self.rate_profile, times)
        bad = ~((shares >= 0) & (shares <= 1))
        if bad.any():
            raise ValueError(f"rate_profile must give a share between 0 and 1 at every time, "
                             f"got {checks.shown(shares[bad][0])} at "
                             f"{times[bad][0]:g} s")
        return shares

    def generate(self):
        """Draw the requests: an `Arrivals` with one entry per request."""
        gaps_rng, size_rng, kind_rng, key_rng, client_rng, thinning_rng = (
            np.random.default_rng(stream)
            for stream in np.random.SeedSequence(self.seed).spawn(6))
        if self.requests is not None:
            gap = gaps_rng.standard_exponential(self.requests) / self.arrival_rate
        else:
            gap = self._gaps_within(gaps_rng)
        time = np.cumsum(gap)  # adds in order, as the simulation clock does
        n = len(gap)  # every candidate gets its draws, kept or not: the same request, the
        #               same size, kind, key and user, at every profile
        client = (client_rng.integers(0, self.clients, n) if self.client_skew == 0
                  else self._by_popularity(client_rng, n, self.clients, self.client_skew))
        size, is_write = size_rng.standard_exponential(n), kind_rng.random(n) >= self.read_share
        key = client if self.own_keys else self._keys(key_rng, n)
        if self.rate_profile is not None:  # thinning: keep each with probability share(t)
            kept = thinning_rng.random(n) < self._shares(time)
            time, size, is_write, key, client = (
                column[kept] for column in (time, size, is_write, key, client))
            gap = np.diff(time, prepend=0.0)
            time = np.cumsum(gap)
        end = self.duration if self.duration is not None else float(time[-1])
        return Arrivals(gap=gap, time=time, size=size, is_write=is_write, key=key,
                        client=client, end=float(end))

    def _keys(self, rng, n):
        """Keys by Zipf popularity."""
        return self._by_popularity(rng, n, self.keys, self.key_skew)

    @staticmethod
    def _by_popularity(rng, n, count, skew):
        """`n` draws of 0 .. count-1 by Zipf popularity: the same uniform draws at every
        skew (inverse CDF). (Users at client_skew 0 keep the uniform integers the workload
        always drew, so its runs are what they were.)"""
        cumulative = np.cumsum(zipf_popularity(count, skew))
        return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), count - 1)

    def _gaps_within(self, rng):
        """Gaps of the arrivals in [0, duration): draw in chunks until past the end."""
        expected = self.arrival_rate * self.duration
        chunk = int(expected + 6 * expected ** 0.5 + 10)
        gaps = rng.standard_exponential(chunk) / self.arrival_rate
        while gaps.sum() < self.duration:
            gaps = np.concatenate([gaps, rng.standard_exponential(chunk) / self.arrival_rate])
        return gaps[np.cumsum(gaps) < self.duration]


@dataclass(frozen=True)
class Trace:
    """Requests at given times, for exact small cases and replaying measured traffic.

    times: arrival times in seconds, increasing; sizes: service demand of each
    (multiples of the mean, default 1); writes: True where a request is a write.
    """

    times: tuple
    sizes: tuple | None = None
    writes: tuple | None = None
    keys: tuple | None = None

    def __post_init__(self):
        times = [checks.non_negative("times", time, maximum=checks.MAX_TIME)
                 for time in checks.sequence("times", self.times)]
        if not times or any(later < earlier for earlier, later in zip(times, times[1:])):
            raise ValueError(f"times must be a non-empty increasing sequence, "
                             f"got {checks.shown(self.times)}")
        columns = {"times": tuple(times)}
        for name in ("sizes", "writes", "keys"):
            column = getattr(self, name)
            if column is not None:
                column = checks.sequence(name, column)
                if len(column) != len(times):
                    raise ValueError(f"{name} must have one entry per time ({len(times)}), "
                                     f"got {len(column)}")
                columns[name] = column
        if self.sizes is not None:
            columns["sizes"] = tuple(checks.non_negative("sizes", size, maximum=checks.MAX_TIME)
                                     for size in columns["sizes"])
        if self.writes is not None:
            columns["writes"] = tuple(checks.flag("writes", bool(write) if write in (0, 1)
                                                  and not isinstance(write, float) else write)
                                      for write in columns["writes"])
        if self.keys is not None:
            columns["keys"] = tuple(checks.count("keys", key, minimum=0,
                                                 maximum=checks.MAX_KEYS - 1)
                                    for key in columns["keys"])
        for name, column in columns.items():
            object.__setattr__(self, name, column)  # as tuples, checked

    @property
    def read_share(self):
        """Share of the trace's requests that are reads."""
        return 1.0 if self.writes is None else 1 - sum(map(bool, self.writes)) / len(self.times)

    @property
    def arrival_rate(self):
        """Average requests per second over the trace, from 0 to its last arrival, at most
        the fastest a workload may send (checks.MAX_RATE: a trace all at time 0 gets that)."""
        last = self.times[-1]
        return min(len(self.times) / last, checks.MAX_RATE) if last > 0 else checks.MAX_RATE

    def generate(self):
        time = np.array(self.times, dtype=float)
        n = len(time)
        return Arrivals(
            gap=np.diff(time, prepend=0.0),
            time=np.cumsum(np.diff(time, prepend=0.0)),
            size=np.ones(n) if self.sizes is None else np.array(self.sizes, dtype=float),
            is_write=np.zeros(n, bool) if self.writes is None else np.array(self.writes, bool),
            key=np.zeros(n, int) if self.keys is None else np.array(self.keys, int),
            client=np.zeros(n, int),
            end=float(time[-1]),
        )
