"""The database tier: routing, replication lag, stale reads, failover and lost writes."""

import math

import numpy as np
import pytest

from labsupport import Database, Server, Trace, Workload, simulate, theory

from helpers import accounted

NODE = Server(workers=4, mean_service_time=0.005, write_service_time=0.010)


def mix(**options):
    base = dict(arrival_rate=400, duration=60, read_share=0.9, keys=500, seed=1)
    return Workload(**(base | options))


def writes(result):
    requests = result.requests
    return requests[requests["kind"] == "write"]


def test_writes_go_to_the_primary_and_reads_to_the_replicas_in_turn():
    database = Database(replicas=2, node=Server(mean_service_time=1.0,
                                                distribution="deterministic"))
    result = simulate(database, Trace(times=(0.0, 0.1, 0.2, 0.3, 0.4),
                                      writes=(True, False, False, False, True)))
    assert result.requests["server"].astype(str).tolist() == [
        "db-primary", "db-replica-2", "db-replica-1", "db-replica-2", "db-primary"]


def test_a_read_right_after_a_write_to_its_key_is_stale_until_the_copy_lands():
    # Lag is exponential; with mean 1000 s the copy surely has not landed 1 s later.
    database = Database(replicas=1, mean_lag=1000.0,
                        node=Server(mean_service_time=0.1, distribution="deterministic"))
    result = simulate(database, Trace(times=(0.0, 1.0), writes=(True, False)))
    assert result.requests["stale"].tolist() == [False, True]
    instant = simulate(Database(replicas=1, mean_lag=0.0, node=database.node),
                       Trace(times=(0.0, 1.0), writes=(True, False)))
    assert instant.requests["stale"].tolist() == [False, False]


def test_zero_lag_gives_no_stale_reads():
    result = simulate(Database(replicas=3, mean_lag=0.0), mix())
    assert result.requests["stale"].sum() == 0 and accounted(result)


def test_stale_reads_grow_with_lag():
    shares = [simulate(Database(replicas=2, mean_lag=lag), mix()).requests["stale"].mean()
              for lag in (0.01, 0.1, 1.0)]
    assert 0 < shares[0] < shares[1] < shares[2]


def test_reading_your_writes_from_the_primary_removes_own_write_misses():
    users = mix(keys=1, clients=200, own_keys=True, read_share=0.8)
    plain = simulate(Database(replicas=2, mean_lag=1.0), users).requests
    fixed = simulate(Database(replicas=2, mean_lag=1.0, read_your_writes=30.0), users).requests
    assert plain["own_write_missed"].sum() > 10
    assert fixed["own_write_missed"].sum() == 0


def test_reads_from_the_primary_are_never_stale():
    result = simulate(Database(replicas=2, mean_lag=1.0, read_from="primary"), mix())
    assert result.requests["stale"].sum() == 0


def test_read_capacity_grows_with_replicas_until_the_primary_bounds_it():
    """Read-only traffic over N replicas in round robin: each replica is a 4-worker queue at
    1/N of the rate. Round robin makes arrivals more regular than Poisson, so M/M/4 at
    1/N of the rate is an upper bound on the mean read latency."""
    reads = Workload(arrival_rate=1200, duration=60, read_share=1.0, seed=2)
    for replicas in (2, 3, 4):
        mean = simulate(Database(replicas=replicas), reads).summary["mean_latency"]
        bound = theory.mmc_mean_response(1200 / replicas, 0.005, 4)
        assert 0.005 * 0.95 < mean < bound * 1.02
    # At 90 % reads, replicas add capacity until the writes fill the primary.
    capacities = [Database(replicas=n).capacity_for(mix()) for n in (1, 2, 4, 8, 16)]
    assert capacities[0] < capacities[1] < capacities[2] < capacities[3]
    assert capacities[3] == capacities[4] == pytest.approx(4 / (0.1 * 0.010))


def test_replica_failure_shifts_reads_to_the_primary_until_the_replacement_is_ready():
    database = Database(replicas=1, replica_failures=((10.0, 30.0),))
    result = simulate(database, mix())
    reads = result.requests[result.requests["kind"] == "read"]
    during = reads[(reads["arrival"] > 10.0) & (reads["arrival"] < 30.0)]
    assert set(during["server"].astype(str)) == {"db-primary"}
    after = reads[reads["arrival"] > 30.0]
    assert set(after["server"].astype(str)) == {"db-replica-2"}
    assert accounted(result) and result.summary["in_flight"] == 0
    assert result.summary["failed"] <= 4  # only the reads inside the replica as it failed


@pytest.mark.parametrize("replication", ["async", "sync"])
def test_every_write_is_durable_on_the_surviving_primary_or_counted_lost(replication):
    database = Database(replicas=2, replication=replication, mean_lag=0.5,
                        primary_failures=((20.0, math.inf),), detection_delay=5.0)
    result = simulate(database, mix())
    assert accounted(result)
    outcomes = writes(result)["outcome"].value_counts()
    # Writes arriving while no primary is up fail: about 5 s of 40 writes a second.
    assert 100 < outcomes["failed"] < 300
    if replication == "sync":
        assert outcomes.get("lost", 0) == 0
    else:
        assert outcomes["lost"] > 0


def test_more_lag_loses_more_writes_and_sync_costs_write_latency():
    lost = [simulate(Database(replicas=2, mean_lag=lag, primary_failures=((20.0, math.inf),)),
                     mix()).summary["lost"] for lag in (0.05, 0.5, 2.0)]
    assert lost[0] < lost[1] < lost[2]


@pytest.mark.parametrize("mean_lag", [0.0, 0.2, 2.0])
def test_a_synchronous_write_costs_a_round_trip_and_a_flush_not_the_apply_lag(mean_lag):
    # The primary waits until every replica has the write on disk (received), not until it
    # has applied it: each write's latency grows by exactly round_trip + flush_time, whatever
    # the lag, and its worker is free meanwhile (so the queues are the same).
    latency = {r: writes(simulate(Database(replicas=2, replication=r, mean_lag=mean_lag,
                                           round_trip=0.0005, flush_time=0.001), mix())
                         )["latency"].to_numpy() for r in ("async", "sync")}
    assert latency["sync"] - latency["async"] == pytest.approx(0.0015, abs=1e-9)


def test_a_read_on_a_synchronous_replica_can_still_be_stale():
    # Received is not applied (PostgreSQL's synchronous_commit = on; remote_apply would wait).
    result = simulate(Database(replicas=2, replication="sync", mean_lag=0.5), mix())
    assert result.requests["stale"].sum() > 0 and result.summary["lost"] == 0


def test_replicas_apply_writes_in_the_primarys_order(monkeypatch):
    # However the lags fall, a replica applies write n + 1 no sooner than write n: it is
    # always a prefix of the primary, as a replica replaying the primary's log is.
    from labsupport.components.database import RunningDatabase
    applied = {}
    original = RunningDatabase.copy

    def recorded(self, replica, sequence, key, version):
        original(self, replica, sequence, key, version)
        applied.setdefault(replica.spec.name, []).append(self.applied_until[replica])
    monkeypatch.setattr(RunningDatabase, "copy", recorded)
    simulate(Database(replicas=3, mean_lag=1.0), mix())
    assert len(applied) == 3
    for moments in applied.values():
        assert len(moments) > 100 and moments == sorted(moments)


@pytest.mark.parametrize("kwargs, name", [
    (dict(replicas=0), "replicas"),
    (dict(replicas=0, read_from="primary", primary_failures=((5.0, 9.0),)), "replicas"),
    (dict(replicas=0, read_from="primary", replica_failures=((5.0, 9.0),)), "replicas"),
    (dict(replicas=-1), "replicas"),
    (dict(mean_lag=-0.1), "mean_lag"),
    (dict(mean_lag=float("nan")), "mean_lag"),
    (dict(replication="eventual"), "replication"),
    (dict(read_from="cache"), "read_from"),
    (dict(read_your_writes=-1), "read_your_writes"),
    (dict(primary_failures=((-3.0, 5.0),)), "primary_failures: fail_at"),
    (dict(primary_failures=5.0), "primary_failures"),
    (dict(replica_failures=((5.0, 3.0),)), "replica_failures"),
    (dict(detection_delay=-1.0), "detection_delay"),
    (dict(node="big"), "node"),
])
def test_database_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Database(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(read_share=1.5), "read_share"), (dict(read_share=-0.1), "read_share"),
    (dict(clients=0), "clients"), (dict(own_keys="yes"), "own_keys"),
])
def test_workload_mix_rejects_bad_parameters_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mix(**kwargs)


def test_same_seed_same_log():
    first, again = (simulate(Database(replicas=2, primary_failures=((10.0, 20.0),)), mix()).requests
                    for _ in range(2))
    assert first.equals(again)
    assert np.array_equal(first["stale"], again["stale"])


def test_each_read_knows_how_long_ago_its_reader_last_wrote():
    # One client writes at 0 s (acknowledged when the 10 ms write is done) and reads at 0.5 s
    # and 2 s; a read before any write of its own has waited forever (infinity).
    node = Server(mean_service_time=0.001, write_service_time=0.010,
                  distribution="deterministic")
    trace = Trace(times=(0.0, 0.5, 2.0), writes=(True, False, False))
    reads = simulate(Database(replicas=1, node=node), trace).requests
    assert reads["since_own_write"].iloc[1:].tolist() == pytest.approx([0.49, 1.99])
    assert math.isnan(reads["since_own_write"].iloc[0])  # a write: not a read
    first = simulate(Database(replicas=1, node=node), Trace(times=(0.0,))).requests
    assert first["since_own_write"].tolist() == [math.inf]


def test_a_failed_primary_comes_back_as_a_replica_at_its_recover_at():
    database = Database(replicas=1, primary_failures=((10.0, 25.0),), detection_delay=5.0)
    result = simulate(database, mix())
    events = {(round(e.time, 6), e.component, e.event) for e in result.events.itertuples()}
    assert {(10.0, "db-primary", "fails"), (15.0, "db-replica-1", "promoted"),
            (25.0, "db-replica-2", "ready")} <= events
    reads = result.requests[result.requests["kind"] == "read"]
    between = reads[(reads["arrival"] > 15.5) & (reads["arrival"] < 25.0)]
    assert set(between["server"].astype(str)) == {"db-replica-1"}  # the new primary alone
    assert set(reads.loc[reads["arrival"] > 25.5, "server"].astype(str)) == {"db-replica-2"}
    assert accounted(result)


def test_with_no_replica_to_promote_the_old_primary_comes_back_as_primary():
    database = Database(replicas=1, replica_failures=((5.0, math.inf),),
                        primary_failures=((10.0, 20.0),), detection_delay=2.0)
    result = simulate(database, mix())
    assert "promoted" not in set(result.events["event"])
    written = writes(result)
    down = written[(written["arrival"] > 10.0) & (written["arrival"] < 20.0)]
    after = written[written["arrival"] > 20.5]
    assert (down["outcome"] == "failed").all() and len(down) > 100
    assert (after["outcome"] == "ok").all() and set(after["server"].astype(str)) == {"db-primary"}
    assert accounted(result)


def test_a_replacement_never_copies_a_dead_primary():
    # A replica comes back at 12 s while the primary (failed at 10 s) is down: it waits for
    # the promotion at 20 s and copies the new primary, so the writes the promoted replica
    # never received are still counted lost (they were, without the replica's failure).
    workload = Workload(arrival_rate=200, duration=30, keys=20, read_share=0.5, seed=2)
    alone = simulate(Database(replicas=2, mean_lag=2.0, primary_failures=((10.0, math.inf),)),
                     workload)
    with_replacement = simulate(Database(replicas=2, mean_lag=2.0,
                                         primary_failures=((10.0, math.inf),),
                                         replica_failures=((11.0, 12.0),)), workload)
    assert alone.summary["lost"] > 50 and with_replacement.summary["lost"] > 50
    ready = with_replacement.events[with_replacement.events["event"] == "ready"]
    assert ready["time"].min() >= 20.0
    assert accounted(with_replacement)


def test_a_primary_back_within_the_detection_delay_is_back_without_a_failover():
    database = Database(replicas=1, primary_failures=((10.0, 12.0),), detection_delay=5.0)
    result = simulate(database, mix())
    assert "promoted" not in set(result.events["event"])
    written = writes(result)
    assert (written.loc[written["arrival"] > 12.5, "outcome"] == "ok").all()
    assert (written.loc[written["arrival"].between(10.01, 11.99), "outcome"] == "failed").all()
    assert result.summary["lost"] == 0 and accounted(result)
