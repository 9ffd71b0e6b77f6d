"""Metrics: turning the request log into the numbers an operator watches.

Picture the dashboard on the wall of an operations room: requests per second,
how long users wait (the median, and the slow tail at the 95th and 99th
percentile), how busy each machine is, and how many requests went wrong.
Everything here reads the request log (one row per request) and nothing else,
so a number on the dashboard can always be traced back to the rows behind it.

Latency percentiles count served (`ok`) requests only: a dropped or failed
request has no meaningful latency, and it is counted under its outcome instead.
"""

import numpy as np
import pandas as pd

from . import checks
from .log import OK, OUTCOMES


def summarise(requests, workers, run_time, arrival_rate, capacity, window, busy):
    """The run in one flat dict (seconds, requests per second, shares 0-1).

    workers: {server name: workers}; run_time: seconds the run lasted;
    capacity: the most requests per second the system can serve; window: seconds
    arrivals lasted; busy: {server name: seconds its workers spent serving, counted by the
    server itself}. Throughput counts requests served within that window.
    """
    outcomes = requests["outcome"].value_counts()
    latency = requests.loc[requests["outcome"] == OK, "latency"].to_numpy()
    offered_load = arrival_rate / capacity
    attempts = int(requests["attempts"].sum())  # retries are load on the server too
    attempt_load = offered_load * attempts / len(requests) if len(requests) else offered_load
    p50, p95, p99 = np.percentile(latency, [50, 95, 99]) if len(latency) else [np.nan] * 3
    summary = {"requests": len(requests)}
    summary.update({outcome: int(outcomes.get(outcome, 0)) for outcome in OUTCOMES})
    summary.update({
        "throughput": _served_by(requests, window) / window if window > 0 else 0.0,
        "mean_latency": float(latency.mean()) if len(latency) else np.nan,
        "p50_latency": float(p50),
        "p95_latency": float(p95),
        "p99_latency": float(p99),
        **_read_percentiles(requests),
        "hit_ratio": _hit_ratio(requests),
        "offered_load": offered_load,
        "attempts": attempts,
        "attempt_load": attempt_load,
        "unstable": bool(attempt_load >= 1),
    })
    shares = {name: busy[name] / (count * run_time) if run_time > 0 else 0.0
              for name, count in workers.items() if count > 0}
    for name, utilisation in shares.items():
        summary[f"utilisation.{name}"] = utilisation
    served = requests["outcome"] == OK
    for column in requests.columns:
        if column.startswith("time_in."):  # mean seconds a served request spent in each tier
            spent = requests.loc[served, column]
            summary[f"mean_{column}"] = float(spent.mean()) if len(spent) else np.nan
    return summary


def _read_percentiles(requests):
    """p50 and p99 of the reads alone (NaN if none was served): behind a cache, writes always
    reach the database, so the p99 of all requests can hide how fast the reads are."""
    reads = requests.loc[(requests["outcome"] == OK) & (requests["kind"] == "read"), "latency"]
    p50, p99 = np.percentile(reads.to_numpy(), [50, 99]) if len(reads) else [np.nan] * 2
    return {"p50_read_latency": float(p50), "p99_read_latency": float(p99)}


def _hit_ratio(requests):
    """Share of reads a cache answered (0 when there is no cache)."""
    reads = requests["kind"] == "read"
    return float(requests.loc[reads, "hit"].mean()) if reads.any() else 0.0


def _served_by(requests, time):
    return int(((requests["outcome"] == OK) & (requests["finish"] <= time)).sum())


def over_time(requests, bin_seconds=1.0):
    """Per time bin (by arrival): latency percentiles of served requests and outcome counts.

    Returns one row per bin: `time` (bin start, seconds), `p50`, `p99`,
    `mean` (seconds) and a count column for each outcome.
    """
    checks.columns("requests", requests, "arrival", "outcome", "latency")
    checks.positive("bin_seconds", bin_seconds, maximum=checks.MAX_TIME)
    bins = (requests["arrival"] // bin_seconds) * bin_seconds
    served = requests[requests["outcome"] == OK].groupby(bins, observed=True)["latency"]
    latency = pd.DataFrame({"p50": served.quantile(0.5), "p99": served.quantile(0.99),
                            "mean": served.mean()})
    counts = pd.crosstab(bins, requests["outcome"]).reindex(columns=list(OUTCOMES),
                                                             fill_value=0)
    table = counts.join(latency, how="left")
    table.index.name = "time"
    table.columns.name = None
    return table.reset_index()


def headline(summary):
    """The summary in one line a reader can take in at a glance."""
    stability = "UNSTABLE: offered more than capacity" if summary["unstable"] else "stable"
    retried = (f", {summary['attempt_load']:.2f} with retries"
               if summary.get("attempts", 0) > summary["requests"] else "")
    return (f"load {summary['offered_load']:.2f}{retried} ({stability}) · "
            f"p50 {summary['p50_latency'] * 1000:.0f} ms · "
            f"p99 {summary['p99_latency'] * 1000:.0f} ms · "
            f"ok {summary['ok']:,} · dropped {summary['dropped']:,} · "
            f"failed {summary['failed']:,}"
            + (f" · lost {summary['lost']:,}" if summary.get("lost") else "")
            + (f" · timed out {summary['timed_out']:,}" if summary.get("timed_out") else "")
            + f" · in flight {summary['in_flight']:,}")
