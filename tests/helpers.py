"""What several test files share: reading a run's log by request, and checking its account."""

from labsupport import OUTCOMES


def rows(result):
    """A run's request log indexed by request number."""
    return result.requests.set_index("request")


def accounted(result):
    """Whether every request the workload made has exactly one outcome in the summary."""
    return sum(result.summary[outcome] for outcome in OUTCOMES) == len(result.requests)
