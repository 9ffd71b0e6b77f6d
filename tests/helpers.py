"""What several test files share: reading a run's log by request, and checking its account."""

import numpy as np

from labsupport import OUTCOMES


def rows(result):
    """A run's request log indexed by request number."""
    return result.requests.set_index("request")


def accounted(result):
    """Whether every request the workload made has exactly one row and one outcome: the
    summary's counts add up, the rows are requests 0, 1, 2... in order, and a request has a
    finish time (no earlier than its arrival) exactly when it has ended."""
    requests = result.requests
    ended = (requests["outcome"] != "in_flight").to_numpy()
    finish, arrival = requests["finish"].to_numpy(), requests["arrival"].to_numpy()
    return (sum(result.summary[outcome] for outcome in OUTCOMES) == len(requests)
            and (requests["request"].to_numpy() == np.arange(len(requests))).all()
            and not np.isnan(finish[ended]).any() and np.isnan(finish[~ended]).all()
            and (finish[ended] >= arrival[ended]).all())
