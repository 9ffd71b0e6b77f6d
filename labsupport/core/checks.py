"""Checks on parameters, so bad input fails early and says what was expected.

A reader who types a negative arrival rate or zero servers into a lab should
get one clear sentence back, not a hang or a stack trace from deep inside
simpy. Every component checks its parameters with these helpers; each raises
`ValueError` with a message that names the parameter and what it accepts.

The limits below bound the work of any run: what a reader can ask for, the
simulation can finish in bounded time and memory. They are far above anything
the book needs; the simulation appendix explains them.
"""

import math
import reprlib
from numbers import Integral, Real

MAX_REQUESTS = 2_000_000
"""Requests one workload may make (a run's memory grows with them: well under 1 GiB)."""
MAX_TIME = 1e9
"""Seconds of simulated time a run may span (about 32 years): arrivals, drain, failures."""
MIN_SERVICE_TIME = 1e-9
"""Shortest mean service time, in seconds (a nanosecond)."""
MAX_RATE = 1e7
"""Requests per second a workload may send."""
MIN_RATE = 1e-6
"""Requests per second a workload must at least send (one in about 12 days)."""
MAX_KEYS = 1_000_000
"""Distinct keys (items) a workload may ask for, and a cache may hold."""
MAX_CLIENTS = 1_000_000
"""Users a workload may have."""
MAX_SKEW = 100.0
"""Largest Zipf exponent (web traffic is 0.5 to 1.5; beyond 10 one key takes everything)."""
MAX_WORKERS = 1_000
"""Workers one server may have."""
MAX_SERVERS = 100
"""Servers one balancer may front (each request looks at all of them)."""
MAX_REPLICAS = 100
"""Replicas one database may have (each write is copied to all of them)."""
MAX_LOOKS = 20_000_000
"""The most looks at servers a balancer may take in one run: servers * requests, since a
policy such as least connections, or a retry, looks at each server (a few seconds at most)."""
MAX_COPIES = 1_000_000
"""The most copies of writes one run may make: a database copies every write to each replica
(replicas * writes; each copy is an event of its own, about ten seconds at most)."""
MAX_RETRIES = 10
"""Most retries a client may make of one request (real clients make two or three)."""
MAX_ATTEMPTS = 2_000_000
"""The most attempts clients may send in one run: (retries + 1) * requests, since each
attempt a client sends is queued and served, and in a retry storm millions of abandoned
copies wait in a queue at once (about 10 s and under 1 GiB at most)."""
MAX_FAILURES = 10_000
"""Failures one server may be given."""
MAX_CHECKS = 1_000
"""Largest `unhealthy_after_checks`: failed health checks before a server is taken out."""
MAX_SPEED = 1_000.0
"""How many times faster (or slower, 1 / MAX_SPEED) than size 1 a machine may be."""
MAX_SEED = 2**63 - 1
"""Largest seed."""


_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxarray = 6
_REPR.maxstring, _REPR.maxother = 60, 80


def shown(value):
    """`value` as a message shows it: cut short, so a list of a million is not printed."""
    return _REPR.repr(value)


def _show(number):
    """A limit as a reader writes it: 1,000,000,000 rather than 1e+09."""
    return f"{int(number):,}" if number == int(number) and abs(number) <= 1e15 else f"{number:g}"


def number(name, value, accepts="a number"):
    """`value` as a float; it must be a number, not NaN (a huge integer becomes infinity).
    `accepts` says what the caller accepts, for the message."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be {accepts}, got {shown(value)}")
    figure = float(value) if not isinstance(value, Integral) or abs(value) < 2**1000 \
        else math.copysign(math.inf, value)
    if math.isnan(figure):
        raise ValueError(f"{name} must be {accepts}, got {shown(value)}")
    return figure


def positive(name, value, maximum=math.inf, minimum=0.0):
    """`value` as a float; it must be a finite number > 0, at least `minimum` (if given)
    and at most `maximum`."""
    limit = "a finite number > 0" if minimum == 0 else f"a number >= {minimum:g}"
    limit += "" if maximum == math.inf else f" and at most {_show(maximum)}"
    figure = number(name, value, limit)
    if not 0 < figure < math.inf or not minimum <= figure <= maximum:
        raise ValueError(f"{name} must be {limit}, got {shown(value)}")
    return figure


def non_negative(name, value, allow_inf=False, maximum=math.inf):
    """`value` as a float; it must be >= 0, finite unless `allow_inf`, at most `maximum`
    (infinity, when allowed, is always accepted)."""
    limit = "a number >= 0" if allow_inf else "a finite number >= 0"
    limit += "" if maximum == math.inf else f" and at most {_show(maximum)}"
    figure = number(name, value, limit)
    if figure < 0 or (figure == math.inf and not allow_inf) or maximum < figure < math.inf:
        raise ValueError(f"{name} must be {limit}, got {shown(value)}")
    return figure


def share(name, value):
    """`value` as a float; it must lie in [0, 1]."""
    figure = number(name, value, "a share between 0 and 1")
    if not 0 <= figure <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {shown(value)}")
    return figure


def open_share(name, value):
    """`value` as a float; it must lie strictly between 0 and 1 (a quantile, say)."""
    figure = number(name, value, "a number strictly between 0 and 1")
    if not 0 < figure < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {shown(value)}")
    return figure


def count(name, value, minimum=1, maximum=None):
    """`value` as an int; it must be an integer >= `minimum` (and <= `maximum`)."""
    limit = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum:,}"
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum \
            or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {limit}, got {shown(value)}")
    return int(value)


def one_of(name, value, choices):
    """`value` unchanged; it must be one of `choices`."""
    if not isinstance(value, (str, Real, type(None))) or value not in choices:
        accepted = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {accepted}, got {shown(value)}")
    return value


def flag(name, value):
    """`value`; it must be True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {shown(value)}")
    return value


def text(name, value):
    """`value`; it must be a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {shown(value)}")
    return value


def sequence(name, value, maximum=MAX_REQUESTS):
    """`value` as a tuple; it must be a list, tuple or array of at most `maximum` items."""
    if isinstance(value, (str, bytes, dict, set)) or not hasattr(value, "__len__") \
            or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence (a list or tuple), got {shown(value)}")
    if len(value) > maximum:
        raise ValueError(f"{name} must have at most {maximum:,} items, got {len(value):,}")
    return tuple(value)


def instance(name, value, kind, what):
    """`value`; it must be an instance of `kind` (described as `what`)."""
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {what}, got {shown(value)}")
    return value


def columns(name, table, *needed):
    """`table`; it must be a table (a pandas DataFrame) with the columns `needed`."""
    if not hasattr(table, "columns") or not hasattr(table, "loc"):
        raise ValueError(f"{name} must be a table (a pandas DataFrame), "
                         f"got {type(table).__name__}")
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"{name} must have the columns {', '.join(map(repr, needed))}; "
                         f"missing {', '.join(map(repr, missing))}")
    return table


def keys(name, mapping, *needed):
    """`mapping`; it must be a dict with the keys `needed`."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{name} must be a dict, got {shown(mapping)}")
    missing = [key for key in needed if key not in mapping]
    if missing:
        raise ValueError(f"{name} must have {', '.join(map(repr, needed))}; "
                         f"missing {', '.join(map(repr, missing))}")
    return mapping


def tier(name, value):
    """`value` unchanged; it must be a tier: a component with `build(sim)` and
    `capacity_for(workload)` (a Server, Balancer, Database, Cache, Clients...)."""
    if not callable(getattr(value, "build", None)) or not callable(
            getattr(value, "capacity_for", None)):
        raise ValueError(f"{name} must be a tier (a Server, Balancer, Database, Cache or "
                         f"Clients), got {shown(value)}")
    return value


def failures(name, value):
    """`value` checked as a component's failures, the one way every component describes
    them: (fail_at, recover_at) pairs in seconds, in time order, each fail_at < recover_at
    (recover_at may be inf: never back). Returned as a tuple of pairs."""
    windows, previous_end = [], 0.0
    for failure in sequence(name, value, maximum=MAX_FAILURES):
        if isinstance(failure, (str, bytes)) or not hasattr(failure, "__len__") \
                or len(failure) != 2:
            raise ValueError(f"{name} must be (fail_at, recover_at) pairs, "
                             f"got {shown(failure)}")
        fail_at = non_negative(f"{name}: fail_at", failure[0], maximum=MAX_TIME)
        recover_at = non_negative(f"{name}: recover_at", failure[1], allow_inf=True,
                                  maximum=MAX_TIME)
        if not previous_end <= fail_at < recover_at:
            raise ValueError(f"{name} must be in time order with fail_at < recover_at, "
                             f"got {shown(value)}")
        windows.append((fail_at, recover_at))
        previous_end = recover_at
    return tuple(windows)
