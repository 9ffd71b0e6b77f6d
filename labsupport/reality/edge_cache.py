"""nginx as a CDN edge: `proxy_cache` in front of an origin, beside λT / (1 + λT).

Picture one kiosk of the CDN chapter made real. nginx on 127.0.0.1 keeps each object it
fetches from the origin (`backend.py`) for `proxy_cache_valid` seconds, and says in a header
what its cache did with each request (`$upstream_cache_status`: HIT, MISS, EXPIRED...).
The load generator asks for objects by path, at Poisson moments, with Zipf popularity.

nginx counts a copy's life in whole seconds: it stores `valid_sec = now + valid`, with
`now` the current second, and treats the copy as expired only once `valid_sec < now`
(`ngx_http_upstream.c`, `ngx_http_file_cache.c`). So a copy fetched a fraction f into a
second lives `valid + 1 - f` seconds: `valid + 0.5` on average, which is the TTL the
formula and the model are given here.

    edge_hit_ratios()  one nginx per TTL: measured hit ratio, overall and for the most
                       popular objects, beside λT / (1 + λT) and labsupport's `Cdn` fed
                       the same kind of stream
"""

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..components.cdn import Cdn, Region
from ..components.server import Server
from ..core import checks
from ..core.simulate import simulate
from ..core.workload import Workload, zipf_popularity
from ..theory import ttl_hit_ratio
from .loadgen import load
from .nginx import nginx_command, nginx_conf, nginx_version
from .processes import free_port, make_folder, start, stop

ORIGIN_SERVICE = 0.001  # seconds the origin backend takes per request, on average


def edge_config(folder, port, origin_port, ttl):
    """nginx.conf for an edge cache on 127.0.0.1:`port` in front of the origin: every
    answer with status 200 is kept `ttl` whole seconds (`proxy_cache_valid`), and each
    answer says what the cache did (`X-Cache: $upstream_cache_status`)."""
    checks.count("ttl", ttl, minimum=1, maximum=3600)
    return nginx_conf(folder, f"""    proxy_cache_path {folder}/cache levels=1:2 keys_zone=edge:10m inactive=1h
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{origin_port};
            proxy_cache edge;
            proxy_cache_valid 200 {ttl}s;
            add_header X-Cache $upstream_cache_status always;
        }}
    }}""")


def measure_edge(ttl, rate, requests, keys, skew, seed):
    """One nginx edge with a `ttl` s cache, a fresh origin and cache: the load generator's
    table, each request asking for `/object/<key>` with the Zipf keys of a seeded workload."""
    folder = make_folder("ztm-edge-")
    processes = []
    try:
        origin_port, port = free_port(), free_port()
        script = Path(__file__).with_name("backend.py")
        processes.append(start([sys.executable, str(script), "--port", str(origin_port),
                                "--name", "origin", "--mean", str(ORIGIN_SERVICE),
                                "--seed", str(seed)], origin_port, drop_root=False))
        (folder / "nginx.conf").write_text(edge_config(folder, port, origin_port, ttl))
        processes.append(start(nginx_command(folder, nginx_version()), port,
                               log=folder / "nginx.out"))
        key = Workload(arrival_rate=rate, requests=requests, keys=keys, key_skew=skew,
                       seed=seed).generate().key
        table = load(port, rate, requests, seed=seed, paths=[f"/object/{k}" for k in key])
        table["key"] = key
        return table
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def edge_hit_ratios(ttls=(1, 2, 5), rate=200.0, requests=4_000, keys=200, skew=1.0,
                    warm_up=5.0, objects=3, seed=1):
    """Per TTL (whole seconds, as nginx takes them), for all objects and for each of the
    `objects` most popular: the hit ratio nginx's own cache status gives for the requests
    sent after `warm_up` s; λT / (1 + λT) with T = ttl + 0.5 (nginx's whole seconds, on
    average; for all objects, summed over them) and with T = ttl; and labsupport's `Cdn`
    (TTL ttl + 0.5, the origin as near and fast as here) on the same kind of stream."""
    rows = []
    popularity = np.array(zipf_popularity(keys, skew))
    groups = {"all": (0, keys), **{f"object {rank + 1}": (rank, rank + 1)
                                   for rank in range(objects)}}
    for ttl in ttls:
        table = measure_edge(ttl, rate, requests, keys, skew, seed)
        counted = table[(table["sent"] >= warm_up) & (table["status"] == 200)]
        near = Region("here", edge_rtt=0.0, origin_rtt=0.0)
        model = simulate(Cdn(regions=(near,), ttl=ttl + 0.5, origin=Server(
            mean_service_time=ORIGIN_SERVICE, name="origin")),
            Workload(arrival_rate=rate, requests=requests, keys=keys, key_skew=skew, seed=seed))
        modelled = model.requests[model.requests["arrival"] >= warm_up]
        for name, (low, high) in groups.items():
            measured = counted[counted["key"].between(low, high - 1)]
            shares = popularity[low:high]

            def formula(lifetime):
                return float(sum(p * ttl_hit_ratio(rate * p, lifetime) for p in shares)
                             / shares.sum())

            rows.append({
                "ttl": ttl, "objects": name, "requests": len(measured),
                "errors": int((table["status"] != 200).sum()),
                "statuses": ", ".join(f"{status} {count}" for status, count in
                                      measured["cache"].value_counts().items()),
                "measured": float((measured["cache"] == "HIT").mean()),
                "formula": formula(ttl + 0.5), "formula_whole_ttl": formula(ttl),
                "simulated": float(modelled.loc[modelled["key"].between(low, high - 1),
                                                "hit"].mean()),
                "late_p99_ms": 1000 * float((table["sent"] - table["planned"])
                                            .quantile(0.99))})
    return pd.DataFrame(rows)
