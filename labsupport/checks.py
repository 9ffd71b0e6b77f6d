"""Checks on parameters, so bad input fails early and says what was expected.

A reader who types a negative arrival rate or zero servers into a lab should
get one clear sentence back, not a hang or a stack trace from deep inside
simpy. Every component checks its parameters with these helpers; each raises
`ValueError` with a message that names the parameter and what it accepts.
"""

import math
from numbers import Integral, Real


def _real(name, value):
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def positive(name, value):
    """`value` as a float; it must be a finite number > 0."""
    number = _real(name, value)
    if not (0 < number < math.inf):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def non_negative(name, value, allow_inf=False):
    """`value` as a float; it must be >= 0 (and finite unless `allow_inf`)."""
    number = _real(name, value)
    if number < 0 or (number == math.inf and not allow_inf):
        limit = "a number >= 0" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{name} must be {limit}, got {value!r}")
    return number


def share(name, value):
    """`value` as a float; it must lie in [0, 1]."""
    number = _real(name, value)
    if not 0 <= number <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")
    return number


def open_share(name, value):
    """`value` as a float; it must lie strictly between 0 and 1 (a quantile, say)."""
    number = _real(name, value)
    if not 0 < number < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return number


def count(name, value, minimum=1):
    """`value` as an int; it must be an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def one_of(name, value, choices):
    """`value` unchanged; it must be one of `choices`."""
    if value not in choices:
        accepted = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {accepted}, got {value!r}")
    return value
