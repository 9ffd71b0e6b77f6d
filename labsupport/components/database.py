"""A database: one primary that takes the writes, replicas that copy them and serve reads.

Picture a head librarian (the primary) who alone may change the catalogue, and
assistants (the replicas) who each keep a copy and answer questions from it.
Every change the head makes is sent to the assistants, who copy it in a little
later (the replication lag). Ask an assistant about a book changed a moment ago
and you may get the old entry: a stale read. If the head librarian collapses,
after a while (`detection_delay`) the assistant with the most complete copy
takes over; changes the head had announced but that never reached that
assistant are gone: lost writes. Failures are given as every component gives them,
(fail_at, recover_at) pairs: a failed node is back (repaired, or replaced by a fresh copy
of the primary; the model does not tell them apart) at its recover_at.

Each node is a `RunningServer` (reads take `node.mean_service_time`, writes
`node.write_service_time`). Every write gives its key a new version. A read is
*stale* when it returns an older version of its key than the latest write
acknowledged before the read arrived; it *missed its own write* when the
version is older than the reader's own last acknowledged write to that key.

A replica *receives* each write (it is on its disk) and later *applies* it (reads
see it), in the primary's order, as a real replica replays the primary's log: it is
always a prefix of the primary. Asynchronous: the primary answers at once; the replica
receives and applies the write `mean_lag` later on average (exponential), after the
trip there (`round_trip` / 2 + `flush_time`). Synchronous: the primary answers
once every replica has received the write, a round trip plus a flush later; applying it
still lags, so a read on a replica can be stale (as with PostgreSQL's
`synchronous_commit = on`; `remote_apply` would wait for the apply). Simplified: every
replica is synchronous (PostgreSQL waits only for those named in
`synchronous_standby_names`), the promoted replica is the one that received the most
(real systems compare log positions), and applying costs a replica no service time.
"""

import dataclasses
import math
from collections import deque
from dataclasses import dataclass

from ..core import checks
from ..core.log import FAILED, OK
from .server import Server

REPLICATION = ("async", "sync")
READ_FROM = ("replicas", "primary")


@dataclass(frozen=True)
class Database:
    """A primary and `replicas` replicas, each a copy of `node`.

    replication: "async" (acknowledge at once, copy later) or "sync" (acknowledge a
        write only once every replica has received it). mean_lag: seconds, exponential,
        until a replica applies a write. round_trip: seconds there and back between the
        primary and a replica; flush_time: seconds a replica takes to make a write durable
        (illustrative: a round trip in one data centre is typically well under a
        millisecond, a flush to an SSD about a millisecond).
    read_from: "replicas" (round robin; the primary if none is up) or "primary".
    read_your_writes: seconds after a client's write during which its reads go
        to the primary (0: off).
    primary_failures: (fail_at, recover_at) pairs in seconds. At each fail_at the node
        that is primary then fails; `detection_delay` later the replica that received the
        most is promoted; at recover_at the failed node is back, as a replica copied from
        the primary (inf: never back). A primary back within `detection_delay` is back as
        the primary, with no failover; with no replica in service at detection, no one is
        promoted and the old primary comes back as primary at recover_at. A replica that
        would come back while no primary is up waits for one.
    replica_failures: (fail_at, recover_at) pairs in seconds: at each fail_at the first
        replica in service fails; at recover_at it is back, copied from the primary.
    """

    replicas: int = 2
    node: Server = Server(workers=4, mean_service_time=0.005, write_service_time=0.010)
    replication: str = "async"
    mean_lag: float = 0.1
    round_trip: float = 0.0005
    flush_time: float = 0.001
    read_from: str = "replicas"
    read_your_writes: float = 0.0
    primary_failures: tuple = ()
    replica_failures: tuple = ()
    detection_delay: float = 10.0
    name: str = "db"

    def __post_init__(self):
        checks.count("replicas", self.replicas, minimum=0, maximum=checks.MAX_REPLICAS)
        checks.instance("node", self.node, Server, "a Server")
        checks.one_of("replication", self.replication, REPLICATION)
        checks.non_negative("mean_lag", self.mean_lag, maximum=checks.MAX_TIME)
        checks.non_negative("round_trip", self.round_trip, maximum=checks.MAX_TIME)
        checks.non_negative("flush_time", self.flush_time, maximum=checks.MAX_TIME)
        checks.one_of("read_from", self.read_from, READ_FROM)
        checks.non_negative("read_your_writes", self.read_your_writes, maximum=checks.MAX_TIME)
        for name in ("primary_failures", "replica_failures"):
            object.__setattr__(self, name, checks.failures(name, getattr(self, name)))
        needed = {"read_from": self.read_from == "replicas",
                  "primary_failures": bool(self.primary_failures),
                  "replica_failures": bool(self.replica_failures)}
        for name, needs_replicas in needed.items():
            if needs_replicas and self.replicas == 0:
                raise ValueError(f"replicas must be at least 1 when {name} is "
                                 f"{checks.shown(getattr(self, name))}, got 0")
        checks.non_negative("detection_delay", self.detection_delay, maximum=checks.MAX_TIME)
        checks.text("name", self.name)

    def capacity_for(self, workload):
        """Requests per second at which the busiest node is full, for this mix of reads."""
        reads, writes = workload.read_share, 1 - workload.read_share
        node = self.node
        write_time = node.write_service_time or node.mean_service_time
        per_node = node.workers * node.speed
        primary_work = writes * write_time + (reads * node.mean_service_time
                                              if self.read_from == "primary" else 0)
        replica_work = (reads * node.mean_service_time / self.replicas
                        if self.read_from == "replicas" else 0)
        return per_node / max(primary_work, replica_work, 1e-12)

    def build(self, sim):
        return RunningDatabase(self, sim)


class RunningDatabase:
    """A `Database` taking part in one run."""

    def __init__(self, spec, sim):
        copies = spec.replicas * int(sim.arrivals.is_write.sum())
        if copies > checks.MAX_COPIES:
            raise ValueError(f"replicas * writes (every write is copied to each replica) must "
                             f"be at most {checks.MAX_COPIES:,}, got {copies:,}")
        self.spec, self.sim, self.env, self.log = spec, sim, sim.env, sim.log
        self.keys, self.clients = sim.keys, sim.clients
        self.rng = sim.random(spec.name)
        self.count = 0  # nodes made so far, for their names
        self.hop = sim.hop
        self.primary = self.new_node("primary")
        self.replicas = [self.new_node(f"replica-{i + 1}") for i in range(spec.replicas)]
        self.version = {node: {} for node in [self.primary, *self.replicas]}
        # Write numbers each node lacks, of all writes so far: copies on their way, and those
        # that never arrived. Small (not every write a node has), so memory stays per request.
        self.missing = {node: set() for node in self.version}
        self.on_the_way = {node: deque() for node in self.version}  # (received_at, number)
        self.applied_until = dict.fromkeys(self.version, 0.0)  # a replica's next catch-up
        self.log_of_writes = []  # (number, key, version) of every write, in order
        self.writes = 0        # writes applied on the primary so far
        self.history = []      # (write number, request) of acknowledged writes
        self.latest = {}       # key -> latest acknowledged version
        self.own = {}          # (client, key) -> version of that client's last write
        self.wrote_at = {}     # client -> time of its last acknowledged write
        self.turn, self.epoch = 0, 0
        self.waiting_replicas = 0  # replacements ready while no primary was up to copy from
        if spec.primary_failures:
            self.env.process(self.fail_over())
        if spec.replica_failures:
            self.env.process(self.fail_replicas())

    def new_node(self, role):
        self.count += 1
        spec = dataclasses.replace(self.spec.node, name=f"{self.spec.name}-{role}",
                                   failures=(), tier=self.spec.name)
        with self.sim.behind(self.hop):  # where on a request's path this database sits
            node = spec.build(self.sim)
        return node

    def accept(self, rid, reply):
        """Writes go to the primary; reads to a replica, or the primary when they must."""
        key, client = self.keys[rid], self.clients[rid]
        if self.sim.is_write[rid]:
            self.send(self.primary, rid, reply)
            return
        expected = (self.latest.get(key, 0), self.own.get((client, key), 0))
        since = self.env.now - self.wrote_at.get(client, -math.inf)  # inf: never wrote
        self.log.since_own_write[rid] = since
        recent = since < self.spec.read_your_writes
        live = [node for node in self.replicas if node.up]
        if self.spec.read_from == "primary" or recent or not live:
            self.send(self.primary, rid, reply, expected)
        else:
            self.turn += 1
            self.send(live[self.turn % len(live)], rid, reply, expected)

    def send(self, node, rid, reply, expected=None):
        """Hand `rid` to `node`; its answer comes to `done` with where it goes (`reply`) and,
        for a read, the versions it should see (`expected`): each copy carries its own."""
        node.accept(rid, lambda rid, outcome: self.done(node, rid, outcome, reply, expected))

    def done(self, node, rid, outcome, reply, expected):
        """A node finished a request: check a read's version; replicate a write."""
        key = self.keys[rid]
        if outcome != OK:  # the node failed it, or turned it away
            reply(rid, outcome)
            return
        if not self.sim.is_write[rid]:
            latest, own = expected
            got = self.version[node].get(key, 0)
            self.log.stale[rid] = got < latest
            self.log.own_write_missed[rid] = got < own
            reply(rid, OK)
            return
        version = self.version[node].get(key, 0) + 1
        self.version[node][key] = version
        self.writes += 1
        sequence = self.writes
        self.log_of_writes.append((sequence, key, version))
        for replica in self.replicas:
            self.copy(replica, sequence, key, version)
        if self.spec.replication == "async" or not self.replicas:
            self.acknowledge(rid, sequence, key, version, reply)
        else:  # sync: acknowledged once every replica has received it, a round trip later
            def received(_):
                if node is self.primary and node.up:
                    self.acknowledge(rid, sequence, key, version, reply)
                else:  # the primary died before it could answer
                    node.end(rid, reply, FAILED)
            wait = self.spec.round_trip + self.spec.flush_time
            self.env.timeout(wait).callbacks.append(received)

    def copy(self, replica, sequence, key, version):
        """Send a write to `replica`: received, then applied, each in the primary's order.

        The replica catches up at random moments (a Poisson process, mean_lag apart): each
        applies every write that reached it, in order. Seen from a write, the wait for the
        next such moment is exponential with mean `mean_lag` (the process has no memory),
        so a new moment is drawn only when the last one has passed."""
        now, spec = self.env.now, self.spec
        arrives = now + spec.round_trip / 2 + spec.flush_time
        if self.applied_until[replica] < arrives:
            lag = self.rng.expovariate(1 / spec.mean_lag) if spec.mean_lag else 0.0
            self.applied_until[replica] = arrives + lag
        applied_at = self.applied_until[replica]
        # Synchronous: on its disk on arrival (the primary waits for that). Asynchronous:
        # it reaches the replica when the replica catches up.
        received_at = arrives if spec.replication == "sync" else applied_at
        self.settle(replica)
        self.missing[replica].add(sequence)
        self.on_the_way[replica].append((received_at, sequence))
        epoch = self.epoch

        def apply(_):
            if epoch == self.epoch and replica in self.missing:  # still a replica, same primary
                self.version[replica][key] = version  # in order: never older than before
        self.env.timeout(applied_at - now).callbacks.append(apply)

    def settle(self, node):
        """Strike off `node`'s missing list the writes it has received by now."""
        on_the_way, missing = self.on_the_way[node], self.missing[node]
        while on_the_way and on_the_way[0][0] <= self.env.now:
            missing.discard(on_the_way.popleft()[1])

    def acknowledge(self, rid, sequence, key, version, reply):
        client = self.clients[rid]
        self.history.append((sequence, rid))
        self.latest[key] = version
        self.own[(client, key)] = version
        self.wrote_at[client] = self.env.now
        reply(rid, OK)

    def fail_over(self):
        """At each failure of the primary, the most up-to-date replica takes over after the
        detection delay; the failed node comes back as a replica at its recover_at."""
        for fail_at, recover_at in self.spec.primary_failures:
            yield self.env.timeout(max(fail_at - self.env.now, 0.0))
            failed = self.primary
            failed.fail()
            self.epoch += 1  # copies the old primary had not yet delivered never land
            for replica in self.replicas:
                self.settle(replica)  # what it received by now it keeps; the rest never comes
                self.on_the_way[replica].clear()
            if recover_at <= fail_at + self.spec.detection_delay:
                # back before anyone noticed: no failover; the replicas copy from it afresh
                yield self.env.timeout(max(recover_at - self.env.now, 0.0))
                self.back_as_primary(failed)
                continue
            yield self.env.timeout(self.spec.detection_delay)
            live = [node for node in self.replicas if node.up]
            if live:
                self.promote(min(live, key=lambda node: len(self.missing[node])))
            for _ in range(self.waiting_replicas):  # replacements that waited for a primary
                self.add_replica()
            self.waiting_replicas = 0
            if recover_at == float("inf"):
                return
            yield self.env.timeout(max(recover_at - self.env.now, 0.0))
            if failed is self.primary:  # no one took over: it is back as the primary
                self.back_as_primary(failed)
            else:
                self.add_replica()

    def back_as_primary(self, node):
        """The failed primary `node` is back as the primary; the replicas copy from it."""
        node.recover()
        for replica in self.replicas:
            self.resync(replica)
        for _ in range(self.waiting_replicas):
            self.add_replica()
        self.waiting_replicas = 0

    def promote(self, chosen):
        """`chosen` becomes the primary: acknowledged writes it never received are lost."""
        for sequence, rid in self.history:
            if sequence in self.missing[chosen]:
                self.log.lost(rid)  # acknowledged, never reached the new primary
        self.history = [(sequence, rid) for sequence, rid in self.history
                        if sequence not in self.missing[chosen]]
        self.primary = chosen
        self.replicas.remove(chosen)
        # It applies everything it received before it takes writes.
        self.version[chosen] = {key: version for sequence, key, version in self.log_of_writes
                                if sequence not in self.missing[chosen]}
        self.latest = dict(self.version[chosen])
        for replica in self.replicas:  # the others copy from the new primary
            self.resync(replica)
        self.log.event(self.env.now, chosen.spec.name, "promoted")

    def fail_replicas(self):
        """At each failure the first replica in service fails; a copy of the primary takes
        its place at recover_at."""
        for fail_at, recover_at in self.spec.replica_failures:
            yield self.env.timeout(fail_at - self.env.now)
            if not self.replicas:
                continue
            failed = self.replicas.pop(0)
            failed.fail()
            del self.missing[failed]
            if recover_at == float("inf"):
                return
            yield self.env.timeout(recover_at - self.env.now)
            if self.primary.up:
                self.add_replica()
            else:  # nothing to copy from until a primary is back
                self.waiting_replicas += 1

    def resync(self, replica):
        """`replica` takes a fresh copy of the primary: what the primary has, it has."""
        self.version[replica] = dict(self.version[self.primary])
        self.missing[replica] = set(self.missing[self.primary])
        self.on_the_way[replica] = deque()
        self.applied_until[replica] = self.env.now

    def add_replica(self):
        replica = self.new_node(f"replica-{self.count}")
        self.resync(replica)
        self.replicas.append(replica)
        self.log.event(self.env.now, replica.spec.name, "ready")
