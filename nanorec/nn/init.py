"""Initial values for parameters, drawn from an explicit random Generator.

For a weight of shape (..., D_out) the fans are

    fan_in  = product of all axes but the last     (D_in for a Dense weight (D_in, D_out))
    fan_out = size of the last axis                (D_out)

    glorot_uniform   W ~ U(-a, a),  a = sqrt(6 / (fan_in + fan_out))     Glorot & Bengio (2010)
    he_normal        W ~ N(0, s^2), s = sqrt(2 / fan_in)                  He et al. (2015)
    normal           W ~ N(0, std^2)
    zeros            W = 0

Layers take ``init=`` as one of these names or as a callable ``init(shape, rng, dtype) -> ndarray``,
and ``rng=`` as a np.random.Generator, an int seed, or None (fresh entropy: not repeatable).
"""

import math

import numpy as np


def as_generator(rng):
    """The Generator ``rng`` itself, or ``np.random.default_rng(rng)`` for an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a np.random.Generator, an int seed or None, got {type(rng).__name__}")


def float_dtype(dtype):
    """Return np.dtype(dtype) after checking it is a float type (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"parameters need a float dtype (float32 or float64), got {dtype}")
    return dtype


def _fans(shape):
    shape = tuple(shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"a weight shape needs positive sizes, got {shape}")
    return math.prod(shape[:-1]) if len(shape) > 1 else shape[0], shape[-1]


def glorot_uniform(shape, rng, dtype=np.float32):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): keeps activation variance through tanh layers."""
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(float_dtype(dtype))


def he_normal(shape, rng, dtype=np.float32):
    """N(0, 2 / fan_in): keeps activation variance through ReLU layers."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(float_dtype(dtype))


def normal(shape, rng, dtype=np.float32, std=0.01):
    """N(0, std^2), the usual start for embedding tables."""
    _fans(shape)  # only to check the shape
    return (rng.standard_normal(shape) * std).astype(float_dtype(dtype))


def zeros(shape, dtype=np.float32):
    """All zeros (biases)."""
    return np.zeros(shape, dtype=float_dtype(dtype))


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "normal": normal,
    "zeros": lambda shape, rng, dtype: zeros(shape, dtype),  # same call shape as the others
}


def initialize(init, shape, rng, dtype):
    """Draw a parameter of ``shape``; init is a name in INITIALIZERS or callable(shape, rng, dtype)."""
    if isinstance(init, str):
        if init not in INITIALIZERS:
            raise ValueError(
                f"unknown init {init!r}; choose one of {sorted(INITIALIZERS)} or pass a callable"
            )
        init = INITIALIZERS[init]
    elif not callable(init):
        raise TypeError(
            f"init must be a name or a callable(shape, rng, dtype), got {type(init).__name__}"
        )
    value = np.asarray(init(tuple(shape), rng, float_dtype(dtype)))
    if value.shape != tuple(shape):
        raise ValueError(f"init returned shape {value.shape}, expected {tuple(shape)}")
    return value.astype(dtype, copy=False)
