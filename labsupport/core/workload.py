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
    them (uniformly). With `own_keys`, each user reads and writes only their own
    item (a profile, say): key = client. `seed` fixes every draw.
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

    def generate(self):
        """Draw the requests: an `Arrivals` with one entry per request."""
        gaps_rng, size_rng, kind_rng, key_rng, client_rng = (
            np.random.default_rng(stream)
            for stream in np.random.SeedSequence(self.seed).spawn(5))
        if self.requests is not None:
            gap = gaps_rng.standard_exponential(self.requests) / self.arrival_rate
        else:
            gap = self._gaps_within(gaps_rng)
        time = np.cumsum(gap)  # adds in order, as the simulation clock does
        n = len(gap)
        end = self.duration if self.duration is not None else float(time[-1])
        client = client_rng.integers(0, self.clients, n)
        return Arrivals(
            gap=gap,
            time=time,
            size=size_rng.standard_exponential(n),
            is_write=kind_rng.random(n) >= self.read_share,
            key=client if self.own_keys else self._keys(key_rng, n),
            client=client,
            end=float(end),
        )

    def _keys(self, rng, n):
        """Keys by Zipf popularity: the same uniform draws at every skew (inverse CDF)."""
        shares = np.array(zipf_popularity(self.keys, self.key_skew))
        cumulative = np.cumsum(shares)
        return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"),
                          self.keys - 1)

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
