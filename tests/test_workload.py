"""Workloads: seeded, Poisson, bounded, with a read/write mix and keys."""

import numpy as np
import pytest

from labsupport import Workload


def test_duration_workload_has_about_rate_times_duration_requests_all_inside_the_window():
    arrivals = Workload(arrival_rate=200, duration=100, seed=1).generate()
    # Poisson count: mean 20,000, standard deviation about 141; allow 5 standard deviations.
    assert abs(len(arrivals) - 20_000) < 5 * 141
    assert arrivals.time[0] > 0 and arrivals.time[-1] < 100 and arrivals.end == 100
    assert np.all(np.diff(arrivals.time) > 0)


def test_gaps_are_exponential_with_the_given_rate():
    arrivals = Workload(arrival_rate=40, requests=100_000, seed=2).generate()
    # Mean gap 1/40 s; standard error of the mean of 100,000 exponentials is 0.3 %.
    assert arrivals.gap.mean() == pytest.approx(1 / 40, rel=0.015)
    # Exponential: standard deviation equals the mean.
    assert arrivals.gap.std() == pytest.approx(1 / 40, rel=0.03)
    assert np.array_equal(arrivals.time, np.cumsum(arrivals.gap))


def test_sizes_have_mean_one_and_are_the_same_draws_at_every_rate():
    slow = Workload(arrival_rate=10, requests=50_000, seed=3).generate()
    fast = Workload(arrival_rate=90, requests=50_000, seed=3).generate()
    assert slow.size.mean() == pytest.approx(1.0, rel=0.02)
    assert np.array_equal(slow.size, fast.size)
    # Common random numbers: the same users, arriving nine times as fast.
    assert np.allclose(slow.time / 9, fast.time)


def test_read_share_and_keys():
    arrivals = Workload(arrival_rate=10, requests=50_000, read_share=0.9, keys=20,
                        seed=4).generate()
    assert arrivals.is_write.mean() == pytest.approx(0.1, abs=0.01)
    assert set(np.unique(arrivals.key)) == set(range(20))


def test_changing_the_mix_leaves_arrival_times_alone():
    reads = Workload(arrival_rate=10, requests=1000, read_share=1.0, seed=5).generate()
    mixed = Workload(arrival_rate=10, requests=1000, read_share=0.5, seed=5).generate()
    assert np.array_equal(reads.time, mixed.time)
    assert not reads.is_write.any() and mixed.is_write.any()


def test_same_seed_same_arrivals_different_seed_different_arrivals():
    first, again, other = (Workload(arrival_rate=10, duration=50, seed=s).generate()
                           for s in (8, 8, 9))
    assert np.array_equal(first.time, again.time)
    assert len(first) != len(other) or not np.array_equal(first.time, other.time)
