"""How fast labsupport simulates, beside a peer simulator and the pure-Python floor.

Picture four cars on the same stretch of road: labsupport; ciw, a published queueing
network simulator; idiomatic simpy with one process per customer; and a plain loop over
a heap of server-free times (an exact FIFO M/M/c, the fastest pure Python can go). Each
simulates M/M/1 and M/M/4 at utilisation 0.9, 200,000 customers, median of 5 runs
(seeds 1-5, the same for every engine that takes labsupport's draws).

Then each lab's full execution and control-panel re-run (benchmarks/labs.py); one
million requests through one server and through a balanced pool of ten; and runs at the
limits of labsupport/core/checks.py, each with the peak memory of a fresh process. Writes
benchmarks/RESULTS.md and prints the same tables. Run it with `make bench` (which installs
ciw first). It measures; it asserts nothing, except that labsupport and the heap loop agree
on every customer's finish time.
"""

import heapq
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import simpy

from labsupport import Server, Workload, simulate, theory

HERE = Path(__file__).resolve().parent
CUSTOMERS, LOAD, SERVICE, REPEATS = 200_000, 0.9, 0.010, 5


def workload(servers, seed):
    return Workload(arrival_rate=LOAD * servers / SERVICE, requests=CUSTOMERS, seed=seed)


def draws(servers, seed):
    """The arrival times and service times labsupport draws, for the other Python loops."""
    arrivals = workload(servers, seed).generate()
    return arrivals.time.tolist(), (SERVICE * arrivals.size).tolist()


def run_labsupport(servers, seed):
    result = simulate(Server(workers=servers, mean_service_time=SERVICE), workload(servers, seed))
    return result.requests["latency"].to_numpy()


def run_heapq(servers, seed):
    arrivals, services = draws(servers, seed)
    free_at, latency = [0.0] * servers, []
    for arrival, service in zip(arrivals, services):
        start = max(arrival, heapq.heappop(free_at))
        heapq.heappush(free_at, start + service)
        latency.append(start + service - arrival)
    return np.array(latency)


def run_simpy_per_customer(servers, seed):
    arrivals, services = draws(servers, seed)
    env = simpy.Environment()
    desk = simpy.Resource(env, capacity=servers)
    latency = []

    def customer(arrival, service):
        with desk.request() as turn:
            yield turn
            yield env.timeout(service)
        latency.append(env.now - arrival)

    def source():
        for arrival, service in zip(arrivals, services):
            yield env.timeout(arrival - env.now)
            env.process(customer(arrival, service))

    env.process(source())
    env.run()
    return np.array(latency)


def run_ciw(servers, seed):
    import ciw
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LOAD * servers / SERVICE)],
        service_distributions=[ciw.dists.Exponential(rate=1 / SERVICE)],
        number_of_servers=[servers])
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(CUSTOMERS, method="Finish")
    return np.array([record.waiting_time + record.service_time
                     for record in simulation.get_all_records()])


# A tandem network: web servers (4 workers, 20 ms) handing each request to a database
# (2 workers, 8 ms), Poisson arrivals at 150/s (loads 0.75 and 0.6). By Jackson's theorem the
# mean response is the sum of the two M/M/c means.
TANDEM_RATE, TANDEM = 150.0, ((4, 0.020), (2, 0.008))


def tandem_expected():
    return sum(theory.mmc_mean_response(TANDEM_RATE, service, workers)
               for workers, service in TANDEM)


def run_labsupport_tandem(seed):
    (web_workers, web_service), (db_workers, db_service) = TANDEM
    database = Server(workers=db_workers, mean_service_time=db_service, name="database")
    web = Server(workers=web_workers, mean_service_time=web_service, name="web",
                 calls=database, blocking=False)
    result = simulate(web, Workload(arrival_rate=TANDEM_RATE, requests=CUSTOMERS, seed=seed))
    return result.requests["latency"].mean()


def run_ciw_tandem(seed):
    import ciw
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=TANDEM_RATE), None],
        service_distributions=[ciw.dists.Exponential(rate=1 / service)
                               for _, service in TANDEM],
        number_of_servers=[workers for workers, _ in TANDEM],
        routing=[[0.0, 1.0], [0.0, 0.0]])
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(CUSTOMERS, method="Finish")
    records = simulation.get_all_records()
    per_node = [[r.waiting_time + r.service_time for r in records if r.node == node]
                for node in (1, 2)]
    return sum(statistics.fmean(times) for times in per_node)


def tandem_table():
    """Both simulators on the tandem network, REPEATS seeds each: seconds (median) and the
    mean response against Jackson's sum, in standard errors of the mean over the seeds."""
    expected, rows = tandem_expected(), []
    for name, run in (("labsupport", run_labsupport_tandem), ("ciw 3.2", run_ciw_tandem)):
        seconds, means = [], []
        for seed in range(1, REPEATS + 1):
            started = time.perf_counter()
            means.append(run(seed))
            seconds.append(time.perf_counter() - started)
        mean = statistics.fmean(means)
        standard_error = statistics.stdev(means) / math.sqrt(REPEATS)
        rows.append({"engine": name, "seconds": statistics.median(seconds),
                     "customers/s": CUSTOMERS / statistics.median(seconds),
                     "mean (ms)": 1000 * mean, "Jackson (ms)": 1000 * expected,
                     "error / standard error": (mean - expected) / standard_error})
    return rows


ENGINES = {"labsupport": run_labsupport, "ciw 3.2": run_ciw,
           "simpy, a process per customer": run_simpy_per_customer,
           "heapq loop (floor)": run_heapq}


def engine_table():
    rows = []
    for servers in (1, 4):
        expected = theory.mmc_mean_response(LOAD * servers / SERVICE, SERVICE, servers)
        exact = np.array_equal(run_labsupport(servers, 1), run_heapq(servers, 1))
        for name, run in ENGINES.items():
            seconds, means = [], []
            for seed in range(1, REPEATS + 1):
                started = time.perf_counter()
                latency = run(servers, seed)
                seconds.append(time.perf_counter() - started)
                means.append(latency.mean())
            mean = statistics.fmean(means)
            error = 100 * (mean / expected - 1)
            standard_error = 100 * statistics.stdev(means) / math.sqrt(REPEATS) / expected
            rows.append({"model": f"M/M/{servers}", "engine": name,
                         "seconds": statistics.median(seconds),
                         "customers/s": CUSTOMERS / statistics.median(seconds),
                         "error %": error, "standard error %": standard_error,
                         "error / standard error": error / standard_error,
                         "same as heapq": "yes" if name == "labsupport" and exact else ""})
    return rows


# Peak memory from /proc (VmHWM, the most this process's memory ever held): getrusage's
# ru_maxrss survives exec on Linux, so a child started from this (large) process would
# report the parent's size at the fork.
SCALE = """
import json, pathlib, time
from labsupport import Balancer, Cache, Clients, Database, Server, Workload, simulate
from labsupport.components.autoscaler import Autoscaler
from labsupport.core.workload import day_profile
system, workload = {system}, {workload}
started = time.perf_counter()
result = simulate(system, workload)
seconds = time.perf_counter() - started
status = pathlib.Path("/proc/self/status").read_text().splitlines()
peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "peak_mib": peak_kib / 1024,
                  "simulated_s": float(result.requests["finish"].max()),
                  "ok": result.summary["ok"]}}))
"""

SCALE_CASES = {
    "one server, 1,000,000 requests at load 0.9":
    ("Server(mean_service_time=0.01)", "Workload(arrival_rate=90, requests=1_000_000, seed=1)"),
    "ten servers behind a least-connections balancer, 1,000,000 requests":
    ("Balancer.of(10, Server(mean_service_time=0.01), policy='least_connections')",
     "Workload(arrival_rate=900, requests=1_000_000, seed=1)"),
    # At the limits of labsupport/core/checks.py: what the worst accepted run costs.
    "limit: the most requests (2,000,000), one server at load 0.9":
    ("Server(mean_service_time=0.01)", "Workload(arrival_rate=90, requests=2_000_000, seed=1)"),
    "limit: the most looks, 100 servers x 200,000 requests (least connections)":
    ("Balancer.of(100, Server(mean_service_time=0.01), policy='least_connections')",
     "Workload(arrival_rate=9_000, requests=200_000, seed=1)"),
    "limit: the most looks and requests, 10 servers x 2,000,000 requests":
    ("Balancer.of(10, Server(mean_service_time=0.01), policy='least_connections')",
     "Workload(arrival_rate=900, requests=2_000_000, seed=1)"),
    "limit: the most copies, 100 replicas x 10,000 writes":
    ("Database(replicas=100, node=Server(mean_service_time=0.0001))",
     "Workload(arrival_rate=9_000, requests=10_000, read_share=0, seed=1)"),
    "limit: copies and requests, 2 replicas x ~450,000 writes (1,000,000 requests)":
    ("Database(replicas=2, node=Server(workers=8, mean_service_time=0.005))",
     "Workload(arrival_rate=900, requests=1_000_000, read_share=0.55, seed=1)"),
    "limit: the most workers (1,000), 1,000,000 requests at load 0.9":
    ("Server(workers=1000, mean_service_time=1.0)",
     "Workload(arrival_rate=900, requests=1_000_000, seed=1)"),
    "the composed stack: a balancer over 8 web servers, a cache, a database with 2 "
    "replicas, 1,000,000 requests":
    ("Balancer.of(8, Server(workers=8, mean_service_time=0.004, name='web', calls=Cache("
     "max_items=2_000, database=Database(replicas=2, node=Server(workers=4, "
     "mean_service_time=0.005, write_service_time=0.010))), blocking=False))",
     "Workload(arrival_rate=1_500, requests=1_000_000, read_share=0.9, keys=100_000, "
     "key_skew=1.0, seed=1)"),
    "sticky sessions: ten servers keeping the sessions of 100,000 users, 1,000,000 requests":
    ("Balancer.of(10, Server(mean_service_time=0.01, keeps_sessions=True), policy='sticky')",
     "Workload(arrival_rate=900, requests=1_000_000, clients=100_000, seed=1)"),
    "an autoscaled day: ~1,000,000 requests following a daily wave, 2 to 12 servers":
    ("Balancer(servers=(Server(mean_service_time=0.25, name='web'),) * 2, "
     "policy='least_connections', scaling=Autoscaler(min_servers=2, max_servers=12))",
     "Workload(arrival_rate=20, duration=86_400, rate_profile=day_profile(0.15), seed=1)"),
    "limit: the most attempts, 10 immediate retries x 181,818 requests (a retry storm)":
    ("Clients(Server(mean_service_time=0.01), timeout=0.2, retries=10)",
     "Workload(arrival_rate=90, requests=181_818, seed=1)"),
    "a long quiet run: 1,000 requests over ~16 years, one failure, health checks every ms":
    ("Balancer.of(2, Server(failures=((2e8, 2e8 + 60),)), health_check_interval=1e-3)",
     "Workload(arrival_rate=2e-6, requests=1_000, seed=1)"),
}


def scale_table():
    rows = []
    for name, (system, workload) in SCALE_CASES.items():
        output = subprocess.run([sys.executable, "-c",
                                 SCALE.format(system=system, workload=workload)],
                                capture_output=True, text=True, check=True).stdout
        rows.append({"run": name, **json.loads(output)})
    return rows


def markdown(rows, columns, formats):
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format(row[c], formats.get(c, "")) for c in columns)
                     + " |")
    return "\n".join(lines)


def main():
    sys.path.insert(0, str(HERE))
    import labs

    header = (f"Python {platform.python_version()}, {platform.machine()}, "
              f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    engine = engine_table()
    text = [f"# Benchmark results\n\n{header}. Produced by `make bench` "
            f"(`benchmarks/bench.py`); engine times are medians of {REPEATS} runs.\n",
            "## Engine: 200,000 customers at utilisation 0.9\n",
            f"Error: the mean response time over the {REPEATS} runs against Erlang C, with the "
            "standard error of that mean and the error in standard errors (within ±3: "
            "as accurate as the sample allows). 'Same as heapq': labsupport, fed the same "
            "pre-drawn numbers, gives every customer the same finish time as the heap loop.\n",
            markdown(engine, ["model", "engine", "seconds", "customers/s", "error %",
                              "standard error %", "error / standard error", "same as heapq"],
                     {"seconds": ".3f", "customers/s": ",.0f", "error %": "+.2f",
                      "standard error %": ".2f", "error / standard error": "+.1f"})]
    for model in ("M/M/1", "M/M/4"):
        by_engine = {row["engine"]: row["seconds"] for row in engine if row["model"] == model}
        text.append(f"\n{model}: ciw / labsupport = "
                    f"{by_engine['ciw 3.2'] / by_engine['labsupport']:.1f}×; "
                    f"labsupport / heapq floor = "
                    f"{by_engine['labsupport'] / by_engine['heapq loop (floor)']:.1f}×.")
    tandem = tandem_table()
    labsupport_row, ciw_row = tandem
    text += ["\n## A tandem network: web servers handing requests to a database\n",
             f"{CUSTOMERS:,} customers through M/M/4 (20 ms) then M/M/2 (8 ms) at "
             f"{TANDEM_RATE:.0f}/s, event-driven web servers (so a Jackson network: the mean "
             f"response is the sum of the two M/M/c means), {REPEATS} seeds each; seconds are "
             "medians; the error is the mean over the seeds against Jackson's sum, in "
             "standard errors of that mean.\n",
             markdown(tandem, ["engine", "seconds", "customers/s", "mean (ms)",
                               "Jackson (ms)", "error / standard error"],
                      {"seconds": ".3f", "customers/s": ",.0f", "mean (ms)": ".3f",
                       "Jackson (ms)": ".3f", "error / standard error": "+.1f"}),
             f"\nciw / labsupport = {ciw_row['seconds'] / labsupport_row['seconds']:.1f}×."]
    lab_rows = []
    for path in sorted((HERE.parent / "labs").glob("*.ipynb")):
        # The reality check measures real software for about three minutes by design; here it runs
        # from its stored results, which times the lab's own code and its model panel.
        stored = {"ZTM_REALITY": "stored"} if path.stem == "reality" else {}
        total, reruns = labs.measure(path, stored)
        lab_rows.append({"lab": path.stem + (" (stored results)" if stored else ""),
                         "execution (s)": total,
                         "control-panel re-run (s)": max(reruns) if reruns else math.nan})
    text += ["\n## Labs\n", "Full execution in a fresh kernel, and the slowest control panel's "
             "re-run at its default setting (median of 5). The reality check runs from its "
             "stored results here; live, it measures nginx, Redis and PostgreSQL for about "
             "three minutes by design.\n",
             markdown(lab_rows, ["lab", "execution (s)", "control-panel re-run (s)"],
                      {"execution (s)": ".1f", "control-panel re-run (s)": ".3f"})]
    text += ["\n## Scale\n", "Each in a fresh process; peak memory is that process's "
             "maximum resident set; simulated_s, the simulated seconds the run spanned. The "
             "runs marked 'limit' sit at the bounds of `labsupport/core/checks.py`, alone or "
             "two at once.\n",
             markdown(scale_table(), ["run", "seconds", "peak_mib", "simulated_s", "ok"],
                      {"seconds": ".1f", "peak_mib": ",.0f", "simulated_s": ",.0f",
                       "ok": ","})]
    report = "\n".join(text) + "\n"
    (HERE / "RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
