"""Where a labsupport run spends its time: cProfile of one benchmark run, grouped by package.

Runs `simulate` on the engine benchmark's model (200,000 customers at utilisation 0.9; M/M/1
by default, `--servers 4` for M/M/4) under cProfile and prints the share of time in simpy's
event loop, in labsupport's own code and in numpy/pandas, then the busiest functions.
cProfile slows everything down, pure Python most, so read the shares, not the seconds.

    .venv/bin/python benchmarks/where_time_goes.py [--servers 4] [--top 15]
"""

import argparse
import cProfile
import pstats
from collections import defaultdict

from labsupport import Server, Workload, simulate


def group(filename):
    for package in ("simpy", "labsupport", "pandas", "numpy"):
        if f"/{package}/" in filename:
            return package
    return "other (builtins, heapq, ...)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    system = Server(workers=args.servers, mean_service_time=0.010)
    workload = Workload(arrival_rate=0.9 * args.servers / 0.010, requests=200_000, seed=1)
    profiler = cProfile.Profile()
    profiler.runcall(simulate, system, workload)
    stats = pstats.Stats(profiler)
    by_group = defaultdict(float)
    for (filename, _, _), (_, _, own_time, _, _) in stats.stats.items():
        by_group[group(filename)] += own_time
    total = sum(by_group.values())
    print(f"M/M/{args.servers}, 200,000 customers: own time by package")
    for name, seconds in sorted(by_group.items(), key=lambda item: -item[1]):
        print(f"  {name:30} {100 * seconds / total:5.1f} %")
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
