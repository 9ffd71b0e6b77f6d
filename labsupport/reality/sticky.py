"""Sticky sessions against a session store: three backends that remember their users, and
one of them dies.

Picture three cloakrooms. In the first design each guest is always sent to the same one,
which keeps the coats in its own back room: quick to fetch, but when that cloakroom burns
down its coats are gone, and its guests must check in again. In the second any cloakroom
takes any guest, and all three keep the coats in one shared store down the hall: a walk
for every coat, and nobody loses one when a cloakroom burns down.

Made real, on 127.0.0.1, with `users` simulated browsers (`loadgen.load` with `users`):
each logs in (a first request with no cookie: the backend makes a session and sets
`sid`), then comes back with its cookies at Poisson moments. Backend 2 is killed (SIGKILL)
mid-run. The backends are `session_backend.py`.

    sticky    nginx gives each new visitor its own cookie (`userid on;`: `uid`) and hashes
              it, `hash $uid_got$uid_set consistent;`, so every request of a user, the
              first one too, goes to one backend; sessions in that backend's memory
    shared    nginx's round robin; every backend keeps sessions in one Redis (GET, SET EX)

Why not `hash $cookie_sid consistent`: the first request has no `sid` yet, and nginx sends
a request whose key is empty by round robin (`ngx_http_upstream_hash_module.c`), so the
session would be made on one backend and the next request, hashed by its new cookie, sent
to whichever backend the hash picks: two times in three, another one. `$uid_got$uid_set`
is the same text on the first request (the identifier nginx is about to set) and on
every later one (the identifier it got back).

What nginx does when the hashed server is down, from the same file: `consistent` puts 160
points per server on a ring (the CRC32 of "host\\0port" chained through the previous
point); a key goes to the server of the first point at or after CRC32(key). A server that
refused a connection is marked failed (`max_fails=1`) for `fail_timeout`, and the request
is passed on (`proxy_next_upstream error`): nginx walks on along the ring to the next point
of a server it has not tried and that is not marked failed. So every key of the dead server
moves to the server after it on the ring, and every other key stays where it was. After 21
points without one, nginx falls back to round robin. `nginx_ring` and `ring_port` are that
walk in Python: the model's prediction of where each user goes, before and after the kill.

    session_loss()   both designs: sessions on the killed backend, sessions lost, failed
                     requests, the lookup's time, each beside the model's prediction
"""

import base64
import bisect
import random
import shutil
import struct
import sys
import time
import zlib
from pathlib import Path

import pandas as pd

from ..core import checks
from .loadgen import load
from .nginx import BACKENDS, nginx_command, nginx_conf, nginx_version
from .processes import free_port, kill, make_folder, start, stop
from .session_backend import cookies

KILLED = 1  # the backend killed mid-run: b2, as in the failover step


def sessions_config(folder, port, backend_ports, sticky):
    """nginx.conf for the sessions step: sticky (nginx's own cookie, hashed onto a ring) or
    round robin; nginx's default passive checks and retries written out."""
    checks.flag("sticky", sticky)
    policy = "hash $uid_got$uid_set consistent;" if sticky else "# round robin"
    cookie = "userid on;  # a uid cookie for each new visitor" if sticky else "# no cookie"
    servers = "\n".join(f"        server 127.0.0.1:{backend} max_fails=1 fail_timeout=10s;"
                        for backend in backend_ports)
    return nginx_conf(folder, f"""    upstream backends {{
        {policy}
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        {cookie}
        location / {{
            proxy_pass http://backends;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}""")


def nginx_ring(backend_ports):
    """nginx's ring for `hash ... consistent` over servers 127.0.0.1:<port>, weight 1:
    sorted (point, port) pairs, 160 a server."""
    ring = []
    for port in backend_ports:
        point = 0
        for _ in range(160):
            point = zlib.crc32(f"127.0.0.1\0{port}".encode() + struct.pack("<I", point))
            ring.append((point, port))
    return sorted(ring)


def ring_port(ring, key, down=()):
    """The port nginx sends `key` to: the first point at or after CRC32(key), walking past
    points of servers `down`; None after 21 points (nginx then uses round robin)."""
    at = bisect.bisect_left(ring, (zlib.crc32(key.encode()), 0))
    for step in range(21):
        port = ring[(at + step) % len(ring)][1]
        if port not in down:
            return port
    return None


def uid_key(cookie):
    """The text nginx hashes for a user: $uid_got as nginx prints it, from the `uid` cookie
    in a Cookie header (the 16 bytes it encoded, read as four numbers in this machine's order)."""
    raw = base64.b64decode(cookies(cookie)["uid"][:22] + "==")
    return "uid=" + "".join(f"{part:08X}" for part in struct.unpack("=4I", raw))


def measure_design(sticky, users, rate, seconds, down, service, seed):
    """One run: nginx, three session backends (and, unless `sticky`, one Redis), the crowd's
    requests, backend KILLED killed at `down` s. The load generator's table; its attrs hold
    the backends' ports and when the kill began and ended ("down", "dead": seconds from the
    start). An answer before "down" came from before the kill; a request sent after "dead"
    cannot reach the killed backend."""
    folder, processes, backends = make_folder("ztm-sessions-"), [], []
    try:
        store = ["--store", "memory"]
        if not sticky:
            redis_port = free_port()
            processes.append(start(["redis-server", "--port", str(redis_port), "--bind",
                                    "127.0.0.1", "--save", "", "--appendonly", "no",
                                    "--dir", str(folder)], redis_port))
            store = ["--store", "redis", "--redis-port", str(redis_port)]
        ports = [free_port() for _ in range(BACKENDS)]
        script = Path(__file__).with_name("session_backend.py")
        for number, backend_port in enumerate(ports):
            backends.append(start([sys.executable, str(script), "--port", str(backend_port),
                                   "--name", f"b{number + 1}", "--service", str(service),
                                   *store], backend_port, drop_root=False))
        processes += backends
        port = free_port()
        (folder / "nginx.conf").write_text(sessions_config(folder, port, ports, sticky))
        processes.append(start(nginx_command(folder, nginx_version()), port,
                               log=folder / "nginx.out"))
        moments = {}

        def crash():  # the moments just before the signal and once the process is gone
            moments["down"] = time.monotonic()
            kill(backends[KILLED])
            moments["dead"] = time.monotonic()

        draw = random.Random(seed)
        requests = round(rate * seconds)
        crowd = list(range(users)) + [draw.randrange(users) for _ in range(requests - users)]
        table = load(port, rate, requests, seed=seed, users=crowd, events=((down, crash),))
        if "dead" not in moments:
            raise RuntimeError(f"the requests ended before the kill at {down} s")
        table.attrs.update({name: moment - table.attrs["began"]
                            for name, moment in moments.items()}, ports=ports)
        return table
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def count_sessions(table, sticky, users):
    """What one run did to its users' sessions, each count beside the model's prediction.

    on_killed: users whose session the killed backend made (it served their login);
    predicted_on_killed: users times that backend's share of the logins: its share of
    nginx's ring when sticky (`ring_share`; a 4-standard-error binomial band beside it),
    a third under round robin (cyclic: one either way). returned: of those users, the ones
    who sent a request after the kill. lost: users logged out (an answer `X-Session:
    lost`); predicted: every returned one when sticky (and at most the users on the killed
    backend: one caught in it at the kill may be logged out without coming back), none
    when shared. lost_elsewhere, lost_before_kill: logged out though their backend lived,
    or answered so before it died (none). failed: requests with no good answer (none:
    nginx passes them on). off_ring (sticky): requests answered before the kill, or sent
    after it, by another backend than `ring_port` says. lookup_p50_us, lookup_p99_us: the
    X-Lookup of found sessions; latency_p50_ms, latency_p99_ms: the latency of found
    sessions answered before the kill; late_p99_ms: how late the load generator sent
    (99th percentile)."""
    down, dead, ports = table.attrs["down"], table.attrs["dead"], table.attrs["ports"]
    first = table.sort_values("sent").drop_duplicates("user").set_index("user")
    on_killed = set(first.index[first["served_by"] == f"b{KILLED + 1}"])
    returned = on_killed & set(table.loc[table["sent"] > dead, "user"])
    lost = set(table.loc[table["session"] == "lost", "user"])
    answered = table["sent"] + table["latency"]
    found = table[table["session"] == "found"]
    steady = found[answered[found.index] < down]
    share = ring_share(ports, ports[KILLED]) if sticky else 1 / BACKENDS
    return {"design": "sticky, memory" if sticky else "round robin, Redis",
            "users": users, "requests": len(table),
            "logged_in": int((first["session"] == "new").sum()),
            "on_killed": len(on_killed), "ring_share": share,
            "predicted_on_killed": users * share,
            "band_on_killed": 4 * (users * share * (1 - share)) ** 0.5 if sticky else 1.0,
            "returned": len(returned), "lost": len(lost),
            "predicted_lost": len(returned) if sticky else 0,
            "lost_elsewhere": len(lost - on_killed),
            "lost_before_kill": int(((table["session"] == "lost") & (answered < down)).sum()),
            "failed": int((table["status"] != 200).sum()), "predicted_failed": 0,
            "off_ring": off_ring(table) if sticky else float("nan"),  # no ring to be off
            "lookup_p50_us": 1e6 * float(found["lookup"].median()),
            "lookup_p99_us": 1e6 * float(found["lookup"].quantile(0.99)),
            "latency_p50_ms": 1000 * float(steady["latency"].median()),
            "latency_p99_ms": 1000 * float(steady["latency"].quantile(0.99)),
            "late_p99_ms": 1000 * float((table["sent"] - table["planned"]).quantile(0.99))}


def ring_share(backend_ports, port):
    """The share of all keys nginx's ring gives the server on `port`: the arcs that end at
    its points (a key goes to the first point at or after its hash)."""
    ring = nginx_ring(backend_ports)
    return sum((point - ring[at - 1][0]) % 2**32 for at, (point, owner) in enumerate(ring)
               if owner == port) / 2**32


def off_ring(table):
    """Requests of a sticky run that another backend answered than the ring says: of those
    answered before the kill, with every backend up, and of those sent after it, with the
    killed one down. Each user's key comes from the `uid` cookie its requests sent."""
    down, dead, ports = table.attrs["down"], table.attrs["dead"], table.attrs["ports"]
    ring, names = nginx_ring(ports), {port: f"b{number + 1}" for number, port in enumerate(ports)}
    keys = {user: uid_key(cookie) for user, cookie
            in table.groupby("user")["cookie"].last().items() if "uid=" in cookie}
    up = {user: names.get(ring_port(ring, key)) for user, key in keys.items()}
    moved = {user: names.get(ring_port(ring, key, down=(ports[KILLED],)))
             for user, key in keys.items()}
    before = table[table["sent"] + table["latency"] < down]
    after = table[table["sent"] > dead]
    return int((before["served_by"] != before["user"].map(up)).sum()
               + (after["served_by"] != after["user"].map(moved)).sum())


def session_loss(users=300, rate=300.0, seconds=13.0, down=3.0, service=0.001, seed=1):
    """Both designs, `users` users sending `rate` requests a second in all for `seconds`,
    backend b2 killed at `down` s: one row per design (see `count_sessions`)."""
    checks.count("users", users, minimum=BACKENDS, maximum=10_000)
    checks.positive("rate", rate, maximum=2_000)
    checks.positive("seconds", seconds, maximum=600)
    checks.positive("service", service, maximum=0.1)
    checks.positive("down", down)
    if round(rate * seconds) <= users:
        raise ValueError(f"rate * seconds must give more requests than users ({users}), "
                         f"got {round(rate * seconds)}")
    if not users / rate < down < seconds:
        raise ValueError(f"down must come after the logins (users / rate = "
                         f"{users / rate:g} s) and before the end ({seconds:g} s), got {down!r}")
    return pd.DataFrame([count_sessions(measure_design(sticky, users, rate, seconds, down,
                                                       service, seed), sticky, users)
                         for sticky in (True, False)])
