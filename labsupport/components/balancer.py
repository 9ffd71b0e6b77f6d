"""A load balancer: one public address, many servers behind it.

Picture the host at the door of a busy restaurant. Guests arrive at one door;
the host walks each to a table with a free waiter, following a rule: take the
waiters in turn (round robin), pick one at random, pick the least busy (least
connections), glance at two at random and take the less busy of those (two
choices), or seat each regular at their own waiter (sticky: by a hash of the guest's name,
or by a card the host gives each guest on their first visit). Every few seconds the host
looks round the room (a health check); a waiter who has not answered
`unhealthy_after_checks` looks in a row is taken off the rota until he answers again. A
guest sent to a waiter who has just collapsed is turned away, or, with `retries`, walked
once to the next waiter on the rota.

When the evening rush comes, the manager calls in more waiters, who take a while to
arrive (`scaling`: an `Autoscaler` or a `Schedule`); when it ends, a waiter sent home
first finishes serving his tables (draining), and his regulars lose what he remembered
of them (sessions kept in a server's memory).

`Balancer` holds the parameters and the servers behind it; `Balancer.build(sim)`
makes a `RunningBalancer` whose `accept()` picks a server for each request.
Each policy is one short method of `RunningBalancer`.
"""

import bisect
import dataclasses
import hashlib
import math
from dataclasses import dataclass

from ..core import checks
from ..core.log import FAILED
from .server import Server

POLICIES = ("round_robin", "random", "least_connections", "two_choices",
            "weighted_round_robin", "sticky", "sticky_cookie")
BY_USER = ("sticky", "sticky_cookie")  # the policies that pick a server for the user
RING_POINTS = 160  # points per server on the sticky policy's hash ring, as nginx's
#                    `hash ... consistent` places (ngx_http_upstream_hash_module.c)


def ring_hash(text):
    """A well-mixed 32-bit hash of `text` (from MD5, as ketama's ring does). nginx takes CRC32
    of the cookie, whose session ids are random; the model's users are numbered 0, 1, 2...,
    which CRC32 would bunch together on the ring."""
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Balancer:
    """A balancer in front of `servers` (a tuple of `Server`), routing by `policy`.

    weights: one per server, for "weighted_round_robin".
    health_check_interval: seconds between checks; None turns health checks off.
    unhealthy_after_checks: failed checks in a row before a server is taken out.
    retries: send a request that a server failed to the next server in rotation, once.
    policy "sticky": each user goes to the server its user number hashes to on a ring
        (consistent hashing, like nginx's `hash ... consistent`); while that server is out
        of rotation, to the next server on the ring.
    policy "sticky_cookie": a user's first request goes to the next server in turn, and
        every later one to the same server, as a cookie naming it would send it (nginx's
        `sticky cookie`, a cloud balancer's stickiness cookie); while that server is out of
        rotation, the user is sent on as if new.
    scaling: an `Autoscaler` or a `Schedule` that adds and removes servers during the
        run; `servers` are then the fleet at the start, and the servers it adds are
        copies of the first one (without its failures).
    """

    servers: tuple
    policy: str = "round_robin"
    weights: tuple | None = None
    health_check_interval: float | None = 1.0
    unhealthy_after_checks: int = 3
    retries: bool = False
    name: str = "balancer"
    scaling: object = None

    def __post_init__(self):
        servers = checks.sequence("servers", self.servers, maximum=checks.MAX_SERVERS)
        if not servers or not all(isinstance(server, Server) for server in servers):
            raise ValueError(f"servers must be a non-empty sequence of Server, "
                             f"got {checks.shown(self.servers)}")
        names = [server.name for server in servers]
        if len(set(names)) < len(names):  # Server() copies: number them server-1, server-2...
            servers = tuple(dataclasses.replace(server, name=f"{server.name}-{i}",
                                                tier=server.tier or server.name)
                            for i, server in enumerate(servers, start=1))
        object.__setattr__(self, "servers", servers)
        checks.one_of("policy", self.policy, POLICIES)
        if self.policy == "weighted_round_robin":
            weights = checks.sequence("weights", () if self.weights is None else self.weights)
            if len(weights) != len(servers):
                raise ValueError(f"weights must give one weight per server ({len(servers)}) "
                                 f"for policy 'weighted_round_robin', "
                                 f"got {checks.shown(self.weights)}")
            object.__setattr__(self, "weights", tuple(
                checks.positive("weights", weight, maximum=1e6) for weight in weights))
        elif self.weights is not None:
            raise ValueError(f"weights are only for policy 'weighted_round_robin', got "
                             f"weights={checks.shown(self.weights)} with policy={self.policy!r}")
        if self.health_check_interval is not None:
            checks.positive("health_check_interval", self.health_check_interval,
                            maximum=checks.MAX_TIME)
        checks.count("unhealthy_after_checks", self.unhealthy_after_checks,
                     maximum=checks.MAX_CHECKS)
        checks.flag("retries", self.retries)
        checks.text("name", self.name)
        if self.scaling is not None:
            if not callable(getattr(self.scaling, "run", None)) or not hasattr(
                    self.scaling, "max_servers"):
                raise ValueError(f"scaling must be an Autoscaler or a Schedule, "
                                 f"got {checks.shown(self.scaling)}")
            if hasattr(self.scaling, "min_servers") and not (
                    self.scaling.min_servers <= len(servers) <= self.scaling.max_servers):
                raise ValueError(f"servers (the fleet at the start) must number from "
                                 f"{self.scaling.min_servers} to {self.scaling.max_servers} "
                                 f"(the autoscaler's min_servers to max_servers), "
                                 f"got {len(servers)}")

    @property
    def all_servers(self):
        """Every server the balancer may send to in a run: `servers`, and with `scaling`
        `max_servers` fresh copies of the first one (so it can always launch up to its
        maximum; the summary shows a utilisation for each, over the whole run)."""
        if self.scaling is None:
            return self.servers
        first = self.servers[0]
        base = first.tier or first.name
        taken = {server.name for server in self.servers}
        names = (f"{base}-{number}" for number in range(1, 2 * checks.MAX_SERVERS + 1))
        spares = [name for name in names if name not in taken]
        return self.servers + tuple(
            dataclasses.replace(first, name=name, tier=base, failures=())
            for name in spares[:self.scaling.max_servers])

    @classmethod
    def of(cls, count, server=Server(), **options):
        """`count` copies of `server` behind a balancer, named server-1, server-2, ..."""
        checks.count("count", count, maximum=checks.MAX_SERVERS)
        checks.instance("server", server, Server, "a Server")
        return cls(servers=(server,) * count, **options)

    @property
    def capacity(self):
        """Requests per second the servers can finish together (perfectly balanced), on
        their own."""
        return sum(server.capacity for server in self.servers)

    def capacity_for(self, workload):
        """Requests per second the servers can finish together with this workload's mix,
        perfectly balanced, and no more than the tiers they call can (each counted once).
        With `scaling`: its largest fleet."""
        own = sum(server.own_capacity_for(workload) for server in self.all_servers)
        behind = {server.calls for server in self.servers if server.calls is not None}
        return min([own, *(tier.capacity_for(workload) for tier in behind)])

    def build(self, sim):
        return RunningBalancer(self, sim)


class RunningBalancer:
    """A `Balancer` taking part in one run."""

    def __init__(self, spec, sim):
        looks = len(spec.all_servers) * len(sim.arrivals)
        if looks > checks.MAX_LOOKS:
            raise ValueError(f"servers * requests (a request may look at every server) must "
                             f"be at most {checks.MAX_LOOKS:,}, got {looks:,}")
        self.spec, self.env, self.log = spec, sim.env, sim.log
        self.place = sim.log.place(spec.name, workers=0)
        self.servers = [server.build(sim) for server in spec.all_servers]
        self.position = {server: i for i, server in enumerate(self.servers)}
        self.fleet = self.servers[:len(spec.servers)]  # the servers in service
        self.spares = self.servers[len(spec.servers):]  # fresh copies `scaling` may launch
        self.in_rotation = list(self.fleet)  # the servers the balancer sends to
        self.booting, self.draining = [], []  # servers on their way in, and out
        self.launches = {}  # server -> the number of its latest launch
        self.measured = {server: (0.0, 0.0) for server in self.fleet}  # see utilisation
        self.clients = sim.clients if spec.policy in BY_USER else None
        self.ring = sorted((ring_hash(f"{server.spec.name}#{point}"), i)
                           for i, server in enumerate(self.servers)
                           for point in range(RING_POINTS))
        self.ring_points = [point for point, _ in self.ring]
        self.sticky_to = {}  # user -> server, while the rotation stays as it is
        self.cookie = {}  # user -> the server their cookie names ("sticky_cookie")
        self.rng = sim.random(spec.name)
        self.turn = 0
        self.weight = dict(zip(self.servers, spec.weights or [1.0] * len(self.servers)))
        self.credit = dict.fromkeys(self.servers, 0.0)  # smooth weighted round robin
        self.pick = getattr(self, spec.policy)
        if spec.health_check_interval is not None:
            self.env.process(self.health_checks())
        if spec.scaling is not None:
            for server in self.fleet:
                self.log.event(0.0, server.spec.name, "in service from the start")
            self.env.process(spec.scaling.run(self.env, self))

    def accept(self, rid, reply):
        """Send request `rid` to the server the policy picks among those in rotation."""
        if not self.in_rotation:  # every server is out: nowhere to send it
            self.log.where[rid] = self.log.ended_by[rid] = self.place
            reply(rid, FAILED)
            return
        server = (self.pick(self.in_rotation, self.clients[rid]) if self.clients is not None
                  else self.pick(self.in_rotation))
        server.accept(rid, lambda rid, outcome: self.answered(server, rid, outcome, reply))

    def answered(self, server, rid, outcome, reply):
        """`server` answered: if it failed the request itself (not a tier behind it), retry
        it once on the next server; else pass the answer on."""
        if (outcome == FAILED and self.spec.retries and not self.log.retried[rid]
                and self.log.ended_by[rid] == server.place):
            next_server = self.next_after(server, rid)
            if next_server is not None:
                self.log.retried[rid] = True
                next_server.accept(rid, lambda rid, outcome: self.answered(
                    next_server, rid, outcome, reply))
                return
        reply(rid, outcome)

    def next_after(self, server, rid):
        """The server to retry request `rid` on after `server` failed it (what nginx's
        proxy_next_upstream tries): the next in rotation; with "sticky", the next on the
        user's ring; with "sticky_cookie", the next server in turn, which the user's cookie
        names from now on."""
        others = [s for s in self.in_rotation if s is not server]
        if not others:
            return None
        if self.spec.policy == "sticky":
            return self.on_ring(others, self.clients[rid])
        if self.spec.policy == "sticky_cookie":  # dealt in turn, as a new user would be
            self.cookie[self.clients[rid]] = self.round_robin(others)
            return self.cookie[self.clients[rid]]
        later = [s for s in others if self.position[s] > self.position[server]]
        return (later or others)[0]

    # --- the policies: each picks one of `candidates` ---------------------------

    def round_robin(self, candidates):
        self.turn += 1
        return candidates[(self.turn - 1) % len(candidates)]

    def random(self, candidates):
        return self.rng.choice(candidates)

    def least_connections(self, candidates):
        self.turn += 1  # among equally busy servers, take turns
        start = (self.turn - 1) % len(candidates)
        ordered = candidates[start:] + candidates[:start]
        return min(ordered, key=lambda server: server.in_system())

    def two_choices(self, candidates):
        if len(candidates) == 1:
            return candidates[0]
        first, second = self.rng.sample(candidates, 2)
        return first if first.in_system() <= second.in_system() else second

    def weighted_round_robin(self, candidates):
        """nginx's smooth weighted round robin: the server furthest behind its share."""
        for server in candidates:
            self.credit[server] += self.weight[server]
        chosen = max(candidates, key=self.credit.get)
        self.credit[chosen] -= sum(self.weight[server] for server in candidates)
        return chosen

    def sticky(self, candidates, client):
        """The user's own server: the first point on the hash ring at or after the user's
        hash whose server is among `candidates` (nginx's `hash ... consistent`)."""
        if client not in self.sticky_to:
            self.sticky_to[client] = self.on_ring(candidates, client)
        return self.sticky_to[client]

    def sticky_cookie(self, candidates, client):
        """The server the user's cookie names; a new user (or one whose server is out of
        rotation) gets the next server in turn, and a cookie naming it."""
        if self.cookie.get(client) not in candidates:
            self.cookie[client] = self.round_robin(candidates)
        return self.cookie[client]

    def on_ring(self, candidates, client):
        """The first of `candidates` on the ring at or after the user's point."""
        chosen = set(candidates)
        start = bisect.bisect_left(self.ring_points, ring_hash(f"user-{client}"))
        for step in range(len(self.ring)):
            server = self.servers[self.ring[(start + step) % len(self.ring)][1]]
            if server in chosen:
                return server

    # --- health checks -----------------------------------------------------------

    def health_checks(self):
        """At each check, every `health_check_interval` seconds, look at each server: take
        out one that failed `unhealthy_after_checks` checks in a row, bring back one that answers
        again. Checks that could change nothing are skipped, not ticked through (see
        `next_check`), so this costs work per failure, not per second of the run."""
        interval = self.spec.health_check_interval
        failed_checks, check = dict.fromkeys(self.servers, 0), 0
        while (check := self.next_check(check, failed_checks)) is not None:
            yield self.env.timeout(check * interval - self.env.now)
            self.check_servers(failed_checks)

    def check_servers(self, failed_checks):
        """One health check of every server: count its failed checks in a row; take it out
        at `unhealthy_after_checks`, bring it back when it answers."""
        for server in self.fleet:
            failed_checks[server] = 0 if server.up else failed_checks[server] + 1
            if failed_checks[server] == self.spec.unhealthy_after_checks:
                self.set_rotation(server, False, "taken out")
            elif server.up and server not in self.in_rotation:
                self.set_rotation(server, True, "back in")

    def next_check(self, check, failed_checks):
        """The number of the next check that could change anything, or None if none can.

        The next one, if a server is counting failed checks, or is down but in rotation, or
        up but out. Else, for each server, the check at (or just before) its next failure if
        it is up, or its recovery if it is down and out. A check that finds nothing to do
        just decides again from there."""
        interval, now, due = self.spec.health_check_interval, self.env.now, []
        for server in self.fleet:
            out = server not in self.in_rotation
            if 0 < failed_checks[server] < self.spec.unhealthy_after_checks or server.up == out:
                return check + 1
            moments = [recover_at if out else fail_at
                       for fail_at, recover_at in server.spec.failures
                       if (recover_at >= now if out else fail_at >= now)]
            if moments and moments[0] < math.inf:
                due.append(max(check + 1, math.floor(moments[0] / interval)))
        return min(due, default=None)

    def set_rotation(self, server, included, event):
        """Put `server` in or out of rotation, keeping the servers' order."""
        keep = [s for s in self.servers if (s in self.in_rotation) or s is server]
        self.in_rotation = keep if included else [s for s in keep if s is not server]
        self.sticky_to.clear()  # users may now belong elsewhere
        self.log.event(self.env.now, server.spec.name, event)

    # --- adding and removing servers (what `scaling` calls) -------------------------

    def launch(self, boot_time):
        """Start a spare (a copy of the first server, never one of the fleet the run began
        with): it boots for `boot_time` seconds, then joins the fleet and the rotation. A
        spare that served and left may be launched again, empty, as a new machine would be
        (though it takes its old place on a sticky hash ring). Returns False when every
        spare is in use."""
        idle = [server for server in self.spares if server not in self.fleet
                and server not in self.booting and server not in self.draining]
        if not idle:
            return False
        server = idle[0]
        launch = self.launches[server] = self.launches.get(server, 0) + 1
        self.booting.append(server)
        self.log.event(self.env.now, server.spec.name, "launched")

        def booted(_):
            if server in self.booting and self.launches[server] == launch:  # not called off
                self.booting.remove(server)
                self.fleet.append(server)
                self.measured[server] = (self.env.now, server.busy_until(self.env.now))
                self.set_rotation(server, True, "in service")

        self.env.timeout(boot_time).callbacks.append(booted)
        return True

    def retire(self):
        """Remove one server: a booting one if any (its launch is called off), else one in
        the fleet, a failed one first, else the newest. It leaves the rotation at once,
        finishes every request it holds (draining), then leaves, losing its sessions."""
        if self.booting:
            server = self.booting.pop()
            self.log.event(self.env.now, server.spec.name, "called off")
            return
        down = [server for server in self.fleet if not server.up]
        server = (down or self.fleet)[-1]
        self.fleet.remove(server)
        self.draining.append(server)
        self.cookie = {user: named for user, named in self.cookie.items()
                       if named is not server}  # its users' cookies now name nothing
        if server in self.in_rotation:
            self.set_rotation(server, False, "draining")
        else:
            self.log.event(self.env.now, server.spec.name, "draining")

        def drained():
            server.when_idle = None
            self.draining.remove(server)
            self.log.drop_sessions(server.place, "left the fleet")
            self.log.event(self.env.now, server.spec.name, "left the fleet")

        if server.in_system() == 0:
            drained()
        else:
            server.when_idle = drained

    def utilisation(self):
        """The fleet's worker-seconds spent serving, and in service, since the last call (or
        since each server joined): what an autoscaler measures (their ratio is the
        utilisation)."""
        now, busy, capacity = self.env.now, 0.0, 0.0
        for server in self.fleet:
            since, busy_then = self.measured[server]
            busy_now = server.busy_until(now)
            busy += busy_now - busy_then
            capacity += (now - since) * server.spec.workers
            self.measured[server] = (now, busy_now)
        return busy, capacity
