"""Argument checks shared by the whole package: each returns the value, or raises naming it.

Every check takes ``(value, name, where)``: ``where`` (a class or function name, may be empty)
starts the message, so an error reads ``"BPRMF: n_factors must be an integer >= 1, got 0"``.
"""

import math
import numbers

import numpy as np


def _prefix(where):
    return f"{where}: " if where else ""


def integer(value, name, where="", low=1, high=None):
    """``value`` as an int after checking low <= value (<= high): a ValueError otherwise."""
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{_prefix(where)}{name} must be an integer {bound}, got {value!r}")
    return int(value)


def positive_int(value, name, where=""):
    """``value`` as an int >= 1."""
    return integer(value, name, where, low=1)


def number(value, name, where="", low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite float in the interval given by low / high (open ends if asked)."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = is_number and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
        right = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
        raise ValueError(f"{_prefix(where)}{name} must be a finite number in {left}, {right}, "
                         f"got {value!r}")
    return float(value)


def non_negative(value, name, where=""):
    """A finite number >= 0."""
    return number(value, name, where, low=0.0)


def positive(value, name, where=""):
    """A finite number > 0."""
    return number(value, name, where, low=0.0, low_open=True)


def fraction(value, name, where=""):
    """A probability-like number in [0, 1)."""
    return number(value, name, where, low=0.0, high=1.0, high_open=True)


def one_of(value, name, choices, where=""):
    """``value`` after checking it is one of ``choices``."""
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ValueError(f"{_prefix(where)}{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def boolean(value, name, where=""):
    """``value`` after checking it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{_prefix(where)}{name} must be True or False, got {value!r}")
    return bool(value)


def float_dtype(dtype, where=""):
    """np.float32 or np.float64 as a np.dtype."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"{_prefix(where)}dtype must be np.float32 or np.float64, got {dtype!r}")
    return resolved


def sizes(value, name, where="", allow_empty=True):
    """A tuple of integers >= 1 (layer widths), from a tuple or a list."""
    if not isinstance(value, (tuple, list)) or (not allow_empty and not value):
        raise ValueError(f"{_prefix(where)}{name} must be a tuple of integers >= 1, got {value!r}")
    return tuple(integer(size, f"every entry of {name}", where) for size in value)
