"""DSGDBiasedMF: the blocks and strata, the SGD pass they make, serial against a Dask cluster, and
its RMSE against BiasedMF's."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions
from nanorec.data.split import holdout
from nanorec.models import REGISTRY, BiasedMF, DSGDBiasedMF
from nanorec.models.distributed import StratifiedPlan
from nanorec.models.mf import BiasedMFNetwork
from nanorec.models.mf_kernels import biased_mf_epoch_nb


@pytest.fixture(scope="module")
def ratings():
    return load("synthetic", n_users=120, n_items=80, n_interactions=3000, seed=3)


def assert_same_model(one, other):
    for key, value in other.network_.params.items():
        np.testing.assert_array_equal(one.network_.params[key], value, err_msg=key)
    assert one.history_["loss"] == other.history_["loss"]


@settings(max_examples=25, deadline=None)
@given(n_users=st.integers(1, 30), n_items=st.integers(1, 30), n_rows=st.integers(1, 200),
       d=st.integers(1, 8), seed=st.integers(0, 2**31))
def test_blocks_partition_the_ratings_and_groups_partition_the_ids(n_users, n_items, n_rows, d,
                                                                   seed):
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, n_users, n_rows), rng.integers(0, n_items, n_rows)
    train = Interactions.from_arrays(users, items, ratings=rng.integers(1, 6, n_rows) * 1.0,
                                     duplicates="last")
    d = min(d, train.n_users, train.n_items)
    plan = StratifiedPlan(train, d, seed)
    for groups, n_ids in ((plan.user_groups, train.n_users), (plan.item_groups, train.n_items)):
        assert len(groups) == d and all(len(ids) for ids in groups)  # none empty
        np.testing.assert_array_equal(np.sort(np.concatenate(groups)), np.arange(n_ids))
    rows = np.concatenate([plan.rows[a][b] for a in range(d) for b in range(d)])
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(train)))  # each row once
    for a in range(d):
        for b in range(d):
            block, rows = plan.blocks[a][b], plan.rows[a][b]
            np.testing.assert_array_equal(plan.user_groups[a][block.users], train.user_index[rows])
            np.testing.assert_array_equal(plan.item_groups[b][block.items], train.item_index[rows])
            np.testing.assert_array_equal(block.ratings, train.ratings[rows])


def test_groups_hold_about_equal_shares_of_the_ratings(ratings):
    d = 4
    plan = StratifiedPlan(ratings, d, seed=0)
    for index, groups in ((ratings.user_index, plan.user_groups),
                          (ratings.item_index, plan.item_groups)):
        counts = np.bincount(index)
        shares = [counts[ids].sum() for ids in groups]
        # cut where the running count passes n/d: off by at most one id's ratings
        assert max(abs(share - len(ratings) / d) for share in shares) <= counts.max()


@pytest.mark.parametrize("d", [1, 2, 5])
def test_each_stratum_is_d_blocks_sharing_no_group_and_the_strata_cover_every_block(ratings, d):
    plan = StratifiedPlan(ratings, d, seed=1)
    for epoch in range(3):
        schedule = plan.schedule(epoch)
        strata = [schedule[s * d: (s + 1) * d] for s in range(d)]
        for stratum in strata:
            assert sorted(a for a, _, _ in stratum) == list(range(d))
            assert sorted(b for _, b, _ in stratum) == list(range(d))
        assert sorted((a, b) for a, b, _ in schedule) == [(a, b) for a in range(d)
                                                          for b in range(d)]
    if d > 2:  # the strata come in a new order each epoch
        assert len({tuple(plan.strata(epoch)) for epoch in range(6)}) > 1


@pytest.mark.parametrize("d", [1, 3])
def test_an_epoch_is_biased_mf_kernel_over_every_rating_in_the_plans_order(ratings, d):
    """Bit for bit, float32: the blocks' local ids and row copies change no step. With d = 1 this
    is BiasedMF's epoch in another (seeded per block) user-grouped order, not BiasedMF's own."""
    options = dict(n_factors=8, n_epochs=3, random_state=4)
    model = DSGDBiasedMF(**options, n_blocks=d).fit(ratings)
    rng = np.random.default_rng(4)  # BiasedMF's initial factors from the seed
    network = BiasedMFNetwork(ratings.n_users, ratings.n_items, 8, ratings.ratings.mean(),
                              rng=rng)
    P, Q = network.table("user_factors"), network.table("item_factors")
    bu, bi = network.table("user_bias"), network.table("item_bias")
    P[np.bincount(ratings.user_index, minlength=ratings.n_users) == 0] = 0
    Q[np.bincount(ratings.item_index, minlength=ratings.n_items) == 0] = 0
    for epoch in range(3):
        biased_mf_epoch_nb(ratings.user_index, ratings.item_index, ratings.ratings,
                           model._plan.order(epoch), model.global_mean_, bu, bi, P, Q,
                           model.lr, model.reg)
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        np.testing.assert_array_equal(model.network_.table(name), network.table(name))


def test_d1_is_biased_mf_up_to_the_order_of_the_users(ratings, rmse):
    train, test = holdout(ratings, seed=0)
    options = dict(n_factors=8, n_epochs=10, random_state=2)
    dsgd, biased = DSGDBiasedMF(**options, n_blocks=1).fit(train), BiasedMF(**options).fit(train)
    for name in ("user_factors", "item_factors"):  # same init, same kind of steps ...
        assert not np.array_equal(dsgd.network_.table(name), biased.network_.table(name))
    assert abs(rmse(dsgd, test) - rmse(biased, test)) < 0.005  # ... in another order


@pytest.mark.parametrize("tail_weight", [0.0, 0.7])
def test_fused_blocks_take_the_steps_of_the_composed_network(ratings, fit_fused_and_composed,
                                                             tail_weight):
    fused, _ = fit_fused_and_composed(DSGDBiasedMF, ratings, n_factors=4, n_epochs=2,
                                      n_blocks=3, tail_weight=tail_weight)
    assert fused.history_["loss"][1] < fused.history_["loss"][0]


def test_validation_brings_the_rows_back_every_epoch_and_changes_no_step(ratings, rmse):
    train, valid = holdout(ratings, seed=1)
    options = dict(n_factors=4, n_epochs=3, n_blocks=3)
    plain, validated = (DSGDBiasedMF(**options).fit(train, *extra) for extra in ((), (valid,)))
    assert_same_model(validated, plain)
    assert validated.history_["valid_rmse"][-1] == pytest.approx(rmse(plain, valid), rel=1e-6)


def test_a_hyperparameter_changes_the_model(ratings):
    two, three = (DSGDBiasedMF(n_factors=4, n_epochs=2, n_blocks=d).fit(ratings) for d in (2, 3))
    assert not np.array_equal(two.user_factors_, three.user_factors_)


def test_rmse_within_0_005_of_biased_mf_on_a_movielens_100k_shaped_set(rmse):
    data = load("synthetic", n_users=943, n_items=1682, n_interactions=100_000, seed=0)
    train, test = holdout(data, seed=0)
    biased = rmse(BiasedMF().fit(train), test)
    for d in (2, 8):
        assert abs(rmse(DSGDBiasedMF(n_blocks=d).fit(train), test) - biased) < 0.005


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as local:
        yield local


@pytest.mark.parametrize("tail_weight", [0.0, 0.5])
def test_a_local_cluster_gives_the_serial_model_bit_for_bit(ratings, cluster, tail_weight):
    from dask import distributed

    options = dict(n_factors=6, n_epochs=3, n_blocks=3, tail_weight=tail_weight)
    serial = DSGDBiasedMF(**options).fit(ratings)
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as tasks:
        on_cluster = DSGDBiasedMF(**options, client=client).fit(ratings)
    assert sum(task["key"].startswith("block_epoch") for task in tasks.data) == 3 * 9
    assert_same_model(on_cluster, serial)
    if tail_weight:  # a scheduler address (connected for the fit, then closed); validation
        train, valid = holdout(ratings, seed=1)
        on_cluster = DSGDBiasedMF(**options, client=cluster.scheduler_address).fit(train, valid)
        assert_same_model(on_cluster, DSGDBiasedMF(**options).fit(train, valid))


def test_save_and_load_keep_the_model_and_drop_the_client(ratings, tmp_path):
    model = DSGDBiasedMF(n_factors=4, n_epochs=2, n_blocks=2).fit(ratings)
    model.client = "tcp://127.0.0.1:1"  # where it was trained: not part of the saved model
    loaded = DSGDBiasedMF.load(model.save(tmp_path / "dsgd"))
    assert loaded.client is None and loaded.n_blocks == 2
    np.testing.assert_array_equal(loaded.score_items(np.arange(5)), model.score_items(np.arange(5)))
    assert REGISTRY["dsgd-biased-mf"] is DSGDBiasedMF


@pytest.mark.parametrize("n_blocks, message", [
    (0, "n_blocks must be an integer >= 1"), (2.0, "n_blocks must be an integer"),
    (True, "n_blocks must be an integer"), (121, "n_blocks = 121 exceeds the 120 users"),
])
def test_bad_n_blocks_are_refused(ratings, n_blocks, message):
    with pytest.raises(ValueError, match=message):
        DSGDBiasedMF(n_blocks=n_blocks, n_epochs=1).fit(ratings)


def test_bad_client_and_missing_dask_are_clear(ratings, monkeypatch):
    with pytest.raises(ValueError, match="client must be a dask.distributed Client"):
        DSGDBiasedMF(n_epochs=1, client=42).fit(ratings)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(ImportError, match=r'pip install "nanorec\[parallel\]"'):
        DSGDBiasedMF(n_epochs=1, client="tcp://127.0.0.1:1").fit(ratings)
