"""Uptime: how often a service is up when its machines fail and get repaired.

Picture a row of machines in a rack. Each runs for a while (on average `mtbf`
seconds, the mean time between failures), breaks, and is repaired (on average
`mttr` seconds, the mean time to repair), again and again, independently of
the others. A service that needs one of them is down only while *all* of them
are down at once.

`simulate_uptime` draws those up and down periods (exponential, seeded) over a
long horizon and measures the share of time the service was up, so the lab can
show it beside `theory.availability_any_of`.
"""

import numpy as np

from ..core import checks


def _down_periods(rng, mtbf, mttr, horizon):
    """(start, end) of each down period of one machine within [0, horizon)."""
    cycles = int(horizon / (mtbf + mttr) * 1.5) + 20
    while True:
        up = rng.exponential(mtbf, cycles)
        down = rng.exponential(mttr, cycles)
        ends = np.cumsum(up + down)
        if ends[-1] >= horizon:
            break
        cycles *= 2
    starts = ends - down
    return np.minimum(starts, horizon), np.minimum(ends, horizon)


MAX_CYCLES = 2_000_000
"""Up-and-down cycles one run may draw, for all machines together (memory: ~100 MB)."""


def simulate_uptime(mtbf, mttr, servers, horizon, seed=1, needed=1, detection_delay=0.0):
    """Share of `horizon` seconds during which at least `needed` of `servers` machines were
    up, counting as down the `detection_delay` seconds after each machine's failure (until
    whatever routes around it notices: a balancer's health checks, a failover's detection).

    Its work grows with the cycles it draws, servers * horizon / (mtbf + mttr): at most
    MAX_CYCLES."""
    return simulate_uptime_in_series([(mtbf, mttr, servers, needed, detection_delay)],
                                     horizon, seed)


def simulate_uptime_in_series(components, horizon, seed=1):
    """Share of `horizon` seconds during which every one of `components` was up: a request
    needs the balancer, and the web tier, and the database. Each component is a tuple
    (mtbf, mttr, servers, needed, detection_delay), as for `simulate_uptime`; all fail
    independently."""
    components = checks.sequence("components", components, maximum=100)
    horizon = checks.positive("horizon", horizon, maximum=checks.MAX_TIME * 1e3)
    seed = checks.count("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    if not components:
        raise ValueError("components must hold at least one component")
    parsed, cycles = [], 0.0
    for component in components:
        if not isinstance(component, tuple) or len(component) != 5:
            raise ValueError(f"components must be (mtbf, mttr, servers, needed, "
                             f"detection_delay) tuples, got {checks.shown(component)}")
        mtbf, mttr = checks.positive("mtbf", component[0]), checks.positive("mttr", component[1])
        servers = checks.count("servers", component[2], maximum=checks.MAX_SERVERS)
        needed = checks.count("needed", component[3], maximum=servers)
        delay = checks.non_negative("detection_delay", component[4], maximum=checks.MAX_TIME)
        parsed.append((mtbf, mttr, servers, needed, delay))
        cycles += servers * horizon / (mtbf + mttr)
    if cycles > MAX_CYCLES:
        raise ValueError(f"servers * horizon / (mtbf + mttr), the up-and-down cycles to draw, "
                         f"must be at most {MAX_CYCLES:,}, got {cycles:,.0f}")
    rng = np.random.default_rng(seed)
    down = [_down_intervals(rng, horizon, *component) for component in parsed]
    return 1 - _measure(np.concatenate([start for start, _ in down]),
                        np.concatenate([end for _, end in down])) / horizon


def _down_intervals(rng, horizon, mtbf, mttr, servers, needed, detection_delay):
    """(starts, ends) of the stretches when fewer than `needed` machines are up, and of the
    `detection_delay` after each failure."""
    times, changes, failed_at = [], [], []
    for _ in range(servers):
        starts, ends = _down_periods(rng, mtbf, mttr, horizon)
        times += [starts, ends]
        changes += [np.ones(len(starts)), -np.ones(len(ends))]
        failed_at.append(starts[starts < horizon])
    times, changes = np.concatenate(times), np.concatenate(changes)
    order = np.argsort(times, kind="stable")
    times, down_count = times[order], np.cumsum(changes[order])
    # Between one change and the next, `down_count` machines are down.
    ends = np.append(times[1:], horizon)
    too_few = down_count > servers - needed
    failed_at = np.concatenate(failed_at)
    return (np.concatenate([times[too_few], failed_at]),
            np.concatenate([ends[too_few], np.minimum(failed_at + detection_delay, horizon)]))


def _measure(starts, ends):
    """Total length of the union of the intervals [start, end)."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends) if len(ends) else ends
    # Each interval adds what it reaches beyond everything before it.
    before = np.concatenate([[-np.inf], reach[:-1]])
    return float(np.clip(ends - np.maximum(starts, before), 0, None).sum()
                 if len(ends) else 0.0)
