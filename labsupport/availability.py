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

from . import checks


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


def simulate_uptime(mtbf, mttr, servers, horizon, seed=1):
    """Share of `horizon` seconds during which at least one of `servers` machines was up.

    Its work grows with the cycles it draws, servers * horizon / (mtbf + mttr): at most
    MAX_CYCLES."""
    mtbf, mttr = checks.positive("mtbf", mtbf), checks.positive("mttr", mttr)
    servers = checks.count("servers", servers, maximum=checks.MAX_SERVERS)
    horizon = checks.positive("horizon", horizon)
    seed = checks.count("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    if servers * horizon / (mtbf + mttr) > MAX_CYCLES:
        raise ValueError(f"servers * horizon / (mtbf + mttr), the up-and-down cycles to draw, "
                         f"must be at most {MAX_CYCLES:,}, got "
                         f"{servers * horizon / (mtbf + mttr):,.0f}")
    rng = np.random.default_rng(seed)
    times, changes = [], []
    for _ in range(servers):
        starts, ends = _down_periods(rng, mtbf, mttr, horizon)
        times += [starts, ends]
        changes += [np.ones(len(starts)), -np.ones(len(ends))]
    times, changes = np.concatenate(times), np.concatenate(changes)
    order = np.argsort(times, kind="stable")
    times, down_count = times[order], np.cumsum(changes[order])
    # Between one change and the next, `down_count` machines are down.
    spans = np.diff(np.append(times, horizon))
    all_down = spans[down_count == servers].sum()
    return 1 - all_down / horizon
