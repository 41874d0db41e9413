import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.nn.base import Layer
from nanorec.testing.gradcheck import DEFAULT_H
from nanorec.testing.strategies import (
    BUILDERS,
    arrays_on_kinks,
    arrays_with_ties,
    arrays_without_ties,
    float_arrays,
    id_arrays,
    layers,
    shapes,
)

bounded = settings(max_examples=30, deadline=None)


@bounded
@given(shape=shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), exact=shapes(ndim=2))
def test_shapes_respect_their_bounds(shape, exact):
    assert 2 <= len(shape) <= 3 and all(1 <= side <= 4 for side in shape)
    assert len(exact) == 2


@bounded
@given(
    x=float_arrays(shapes(), lo=-2, hi=5),
    y=float_arrays((3, 2), dtype=np.float32),
    z=float_arrays(shapes(), min_abs=0.5),
)
def test_float_arrays_respect_range_dtype_and_min_abs(x, y, z):
    assert x.dtype == np.float64 and np.all((x >= -2) & (x <= 5))
    assert y.dtype == np.float32 and y.shape == (3, 2)
    assert np.all(np.abs(z) >= 0.5)


def test_float_arrays_reject_impossible_requests():
    with pytest.raises(ValueError, match="lo < hi"):
        float_arrays((2,), lo=1, hi=1)
    with pytest.raises(ValueError, match="min_abs"):
        float_arrays((2,), lo=-1, hi=1, min_abs=2)
    with pytest.raises(TypeError, match="float dtype"):
        float_arrays((2,), dtype=np.int64)


@bounded
@given(ids=id_arrays(4, shapes(ndim=1)))
def test_id_arrays_stay_in_range(ids):
    assert ids.dtype == np.int64 and np.all((ids >= 0) & (ids < 4))


@bounded
@given(x=arrays_without_ties(shapes(ndim=3, min_side=1, max_side=5), axis=1, gap=0.25))
def test_arrays_without_ties_keep_the_gap_along_the_axis(x):
    gaps = np.diff(np.sort(x, axis=1), axis=1)
    assert np.all(gaps >= 0.25)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_every_builder_draws_a_float64_case_that_passes_gradcheck(kind, data):
    case = data.draw(layers([kind]))
    assert case.name == kind and isinstance(case.layer, Layer)
    assert all(p.dtype == np.float64 for p in case.layer.params.values())
    case.check()


@bounded
@given(case=layers(["item_scores"]))
def test_item_scores_cases_draw_candidate_ids_for_each_query(case):
    h, items = case.x
    n_items = case.layer.params["weights.W"].shape[0]
    assert items.dtype.kind == "i" and items.ndim == 2 and len(items) == len(h)
    assert np.all((items >= 0) & (items < n_items))
    assert h.shape[1] == case.layer.params["weights.W"].shape[1]


@bounded
@given(case=layers(["vertical_conv", "profile_match"]))
def test_vertical_conv_and_profile_match_cases_fit_their_layers(case):
    if case.name == "vertical_conv":
        assert case.x.ndim == 3 and case.x.shape[1] == case.layer.seq_len
    else:
        p, x, z = case.x
        assert p.shape == x.shape and len(z) == len(p)


@settings(max_examples=10, deadline=None)
@given(case=layers(["dense", "rnn"]))
def test_layers_can_be_restricted_to_some_kinds(case):
    assert case.name in {"dense", "rnn"}


def test_unknown_kinds_are_rejected():
    with pytest.raises(ValueError, match="unknown layer kinds \\['lstm'\\]"):
        layers(["dense", "lstm"])
    with pytest.raises(ValueError, match="unknown layer kinds"):
        layers([])


def test_a_user_layer_is_checked_in_a_few_lines():
    """The docstring's recipe, run: it passes a sound layer and catches a wrong one."""
    from nanorec.nn.layers import Dense
    from nanorec.testing.gradcheck import gradcheck

    class Doubled(Dense):
        def backward(self, dy):
            return 2 * super().backward(dy)  # wrong: the forward is not doubled

    def property_test(layer_class):
        @settings(max_examples=10, deadline=None)
        @given(x=float_arrays(shapes(ndim=2)))
        def test(x):
            gradcheck(layer_class(x.shape[1], 3, rng=0, dtype=np.float64), x).check()

        return test

    property_test(Dense)()
    with pytest.raises(AssertionError, match="gradient check failed"):
        property_test(Doubled)()


@bounded
@given(x=arrays_on_kinks(shapes(), h=1e-4, lo=-2, hi=2))
def test_arrays_on_kinks_are_on_the_kink_or_clear_of_it(x):
    on_kink = np.abs(x) <= 0.5e-4
    assert np.all(on_kink | ((np.abs(x) >= 2e-4) & (np.abs(x) <= 2)))


@bounded
@given(x=arrays_with_ties(shapes(ndim=3), axis=1))
def test_arrays_with_ties_tie_near_the_maximum_or_stay_clear_of_it(x):
    below_max = x.max(axis=1, keepdims=True) - x
    assert np.all((below_max <= DEFAULT_H / 2) | (below_max >= 0.5 - DEFAULT_H / 4))


def test_arrays_on_kinks_and_with_ties_do_reach_their_kinks():
    draws = []
    given(x=arrays_on_kinks((4, 3)), y=arrays_with_ties((2, 4, 3), axis=1))(
        settings(max_examples=30, deadline=None)(lambda x, y: draws.append((x, y))))()
    assert any(np.any(np.abs(x) <= DEFAULT_H / 2) for x, _ in draws)
    assert any(np.any(np.sum(y.max(axis=1, keepdims=True) - y <= DEFAULT_H / 2, axis=1) > 1)
               for _, y in draws)
