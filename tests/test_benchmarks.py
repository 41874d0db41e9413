"""Smoke tests of the benchmark scripts: each imports and runs its smallest configuration.

No peer library and no MovieLens file is needed: the data are small synthetic sets; rows that need
torch, implicit or lightfm are checked to skip cleanly (or run, when the peer is installed).
"""

import copy
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as ``_common``

import _common  # noqa: E402
import bench_bpr_defaults  # noqa: E402
import bench_dsgd  # noqa: E402
import bench_engine  # noqa: E402
import bench_explicit  # noqa: E402
import bench_implicit  # noqa: E402
import bench_privacy  # noqa: E402
import bench_scaling  # noqa: E402

from nanorec.data.datasets import load  # noqa: E402
from nanorec.data.split import holdout  # noqa: E402
from nanorec.models.baselines import Popularity  # noqa: E402

PEAKS = {"gflops": 10.0, "gbytes_per_s": 5.0}


# ------------------------------------------------------------------ _common
def test_measure_separates_the_first_call_and_takes_the_median():
    calls = []

    def slow_first():
        calls.append(None)
        if len(calls) == 1:
            sum(range(200_000))

    timing = _common.measure(slow_first, repeats=3, min_repeat_s=0)
    assert timing["repeats"] == 3 and timing["loops"] == 1
    assert len(calls) == 2 + 3  # first, calibration, repeats
    assert timing["first_s"] > timing["median_s"] > 0


@pytest.mark.parametrize("threads", [1, 2])
def test_machine_peaks_are_positive_rates(threads):
    peaks = _common.machine_peaks(matmul_size=64, copy_mb=1, repeats=1, threads=threads)
    assert peaks["gflops"] > 0 and peaks["gbytes_per_s"] > 0 and peaks["copy_threads"] == threads


def test_run_fresh_python_returns_the_last_json_line():
    assert _common.run_fresh_python("print('noise'); import json, sys; print(json.dumps(sys.argv[1:]))",
                                    "a", 2) == ["a", "2"]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _common.run_fresh_python("1 / 0")


def draw_a_line(pyplot):
    figure, axes = pyplot.subplots()
    axes.plot([1, 2], [3, 4])
    return figure


def test_save_figure_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")

    path = _common.save_figure("smoke", draw_a_line, tmp_path)
    assert path.suffix == ".png" and path.read_bytes()[:4] == b"\x89PNG"


def test_publish_prints_the_report_and_writes_json_and_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")

    _common.publish("smoke", {"rows": [1]}, "| a |", tmp_path, draw_a_line)
    printed = capsys.readouterr().out
    (json_path,), (png_path,) = tmp_path.glob("smoke-*.json"), tmp_path.glob("smoke-*.png")
    assert printed.startswith("| a |\n") and str(json_path) in printed and str(png_path) in printed
    assert json.loads(json_path.read_text()) == {"rows": [1]}


# ------------------------------------------------------------------ bench_engine
@pytest.mark.parametrize("case", bench_engine.layer_cases(), ids=lambda case: case.name)
def test_every_layer_case_runs_forward_and_backward(case):
    inputs = case.inputs(np.random.default_rng(0), 9)
    case.nanorec(*inputs)()
    if importlib.util.find_spec("torch") is not None:
        import torch

        case.torch(torch, *inputs)()
    work = case.flops(9) if case.flops is not None else case.bytes(9)
    assert work > 0


def test_embedding_rows_repeat_ids_and_coalesce_both_gradients():
    (case,) = [case for case in bench_engine.layer_cases() if case.name.startswith("Embedding")]
    ids, dy = case.inputs(np.random.default_rng(0), 4096)
    assert len(np.unique(ids)) <= 4096 // 4 + 1
    layer = bench_engine.Embedding(bench_engine.R, bench_engine.K)
    calls = []
    layer.grads["W"].coalesce = lambda: calls.append("coalesce")  # what the step must run
    bench_engine.embedding_step(layer, ids, dy)()
    assert calls == ["coalesce"]


def one_thread(monkeypatch):
    """A worker's check of its threads passes (this process keeps whatever it has)."""
    monkeypatch.setattr(bench_engine, "threads_in_effect", lambda: {"numba": 1, "blas": [1]})
    monkeypatch.setattr(bench_engine, "machine_peaks", lambda **options: PEAKS)


def test_a_torch_worker_says_skipped_without_torch(monkeypatch):
    def no_torch(threads):
        raise _common.Skipped("skipped (pip install torch)")

    one_thread(monkeypatch)
    monkeypatch.setattr(bench_engine, "_torch_or_skip", no_torch)
    dense = bench_engine.layer_cases()[:1]
    monkeypatch.setattr(bench_engine, "layer_cases", lambda: dense)
    workers = [bench_engine.layer_worker(library, 1, quick=True) for library in ("nanorec", "torch")]
    assert workers[1]["skipped"] == "skipped (pip install torch)" and workers[1]["times"] == []
    (row,) = bench_engine.layer_rows(workers)
    assert row["torch_s"] == "skipped (pip install torch)" and "torch_rate" not in row
    assert row["unit"] == "GFLOP/s" and row["nanorec_pct"] == pytest.approx(10 * row["nanorec_rate"])
    assert "skipped (pip install torch)" in bench_engine.layer_table([row])


def test_layer_times_through_torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()  # a worker sets it: keep this process's
    ours, theirs = (bench_engine.time_layers((2,), 1, library) for library in (None, torch))
    assert [(t["case"], t["n"]) for t in ours] == [(t["case"], t["n"]) for t in theirs]
    assert all(t["seconds"] > 0 for t in ours + theirs) and torch.get_num_threads() == threads


def times(case_seconds, n=256):
    return [{"case": case, "n": n, "seconds": seconds} for case, seconds in case_seconds]


def test_workers_merge_into_one_table_with_the_thread_counts_side_by_side():
    dense, relu = "Dense 256->256", "ReLU (256 wide)"
    peaks = {"gflops": 100.0, "gbytes_per_s": 10.0}
    workers = [  # as run: per thread count, nanorec's worker then PyTorch's
        {"library": "nanorec", "threads": 1, "peaks": peaks,
         "times": times([(dense, 2e-3), (relu, 1e-3)])},
        {"library": "torch", "threads": 1, "times": times([(dense, 1e-3), (relu, 1e-3)])},
        {"library": "nanorec", "threads": 2, "peaks": {**peaks, "gflops": 200.0},
         "times": times([(dense, 1e-3), (relu, 1e-3)])},
        {"library": "torch", "threads": 2, "skipped": "skipped (pip install torch)", "times": []},
    ]
    rows = bench_engine.layer_rows(workers)
    assert [(row["case"], row["threads"]) for row in rows] == [(dense, 1), (dense, 2), (relu, 1),
                                                                (relu, 2)]
    flops = 3 * 2 * 256 * 256 * 256
    assert rows[0]["nanorec_rate"] == pytest.approx(flops / 2e-3 / 1e9)
    assert rows[1]["nanorec_pct"] == pytest.approx(100 * flops / 1e-3 / 1e9 / 200)
    assert rows[2]["unit"] == "GB/s" and rows[2]["torch_pct"] == pytest.approx(
        100 * 5 * 256 * 256 * 4 / 1e-3 / 1e9 / 10)
    lines = bench_engine.layer_table(rows).splitlines()
    assert lines[0].startswith("| layer (fwd + bwd) | N | threads | nanorec ms | PyTorch ms | "
                               "nanorec / PyTorch | nanorec rate | nanorec % of peak | "
                               "PyTorch rate | PyTorch % of peak |")
    assert lines[2] == "| Dense 256->256 | 256 | 1 | 2 | 1 | 2.00 | 50.3 GFLOP/s | 50% | " \
                       "101 GFLOP/s | 101% |"
    assert lines[3].startswith("| Dense 256->256 | 256 | 2 | 1 | skipped (pip install torch) |  |")
    assert bench_engine.slower_than_torch(rows) == {1: [(dense, 256)]}  # a ratio of 1 is not


def test_report_prints_every_table_from_one_run():
    peaks = {"gflops": 10.0, "gbytes_per_s": 5.0, "matmul_size": 2048, "copy_mb": 256}
    workers = [{"library": "nanorec", "threads": threads, "peaks": peaks,
                "times": times([("Dense 256->256", 2e-3)])} for threads in (1, 2)]
    workers += [{"library": "torch", "threads": threads, "times": times([("Dense 256->256", 1e-3)])}
                for threads in (1, 2)]
    memory = {"model": "M", "rows": 100, "train_bytes": 2400, "batches": 2,
              "composed_epoch_peak": 5000, "step_peak": 1000, "fused_epoch_peak": None,
              "fused_numba_allocations": None}
    results = {
        "benchmark": "engine", "layers": bench_engine.layer_rows(workers),
        "peaks": {"1": peaks, "2": peaks},
        "machine": {"cpu": "c", "cores": 2, "load_average_at_start": [0.5, 0.4, 0.3],
                    "load_average_at_end": [0.7, 0.5, 0.3], "python": "3", "versions": {}},
        "config": {"dtype": "float32", "repeats": 1, "thread_counts": [1, 2], "batch_sizes": [256],
                   "seed": 0, "parent_threads": {"NUMBA_NUM_THREADS": "2"}, "sizes": {},
                   "threads_in_effect": {"nanorec, 1": {"numba": 1, "blas": [1]},
                                         "torch, 1": {"numba": 1, "blas": [1], "torch": 1}}},
        "kernels": [], "memory": [memory, {**memory, "fused_epoch_peak": 6000}],
        "startup": {"import_s": 0.1, "fits": {}},
    }
    text = bench_engine.report(results)
    assert "[0.5, 0.4, 0.3] at the start, [0.7, 0.5, 0.3] at the end" in text
    assert "| 1 | 10.0 | 5.0 | nanorec worker: numba 1, blas [1]; torch worker: numba 1, " \
           "blas [1], torch 1 |" in text
    assert "- 1 thread(s): Dense 256->256 (N=256)\n- 2 thread(s): Dense 256->256 (N=256)" in text
    assert "| M | 100 | 2,400 | 2 | 5,000 | 1,000 | — | — |" in text
    assert "| 6,000 | not counted (NUMBA_NRT_STATS off) |" in text
    if importlib.util.find_spec("matplotlib") is not None:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot

        pyplot.close(bench_engine.plot_rates(results)(pyplot))


def test_a_worker_gets_its_threads_before_it_starts(tmp_path):
    argv, environment = bench_engine.worker_command("torch", 1, True, tmp_path / "w.json")
    assert argv[1:] == [str(BENCHMARKS / "bench_engine.py"), "--worker", "torch", "--threads", "1",
                        "--json-out", str(tmp_path / "w.json"), "--quick"]
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        assert environment[name] == "1"


def test_a_worker_refuses_to_run_on_other_threads(monkeypatch):
    monkeypatch.setattr(bench_engine, "threads_in_effect", lambda: {"numba": 2, "blas": [2]})
    with pytest.raises(SystemExit, match="set OPENBLAS_NUM_THREADS, .* to 1"):
        bench_engine.layer_worker("nanorec", 1, quick=True)


def test_memory_rows_trace_a_steady_epoch_and_one_step():
    data = load("synthetic", n_users=30, n_items=40, n_interactions=300, seed=0)
    quarter = data.subset(np.arange(0, len(data), 4))
    smaller = {bench_engine.Caser: dict(n_factors=4, seq_len=2, n_horizontal=2, n_vertical=1),
               bench_engine.AutoRec: dict(n_hidden=8), bench_engine.NeuMF: dict(layers=(8, 4))}
    models = {name: (model_class, {**options, **smaller.get(model_class, {})})
              for name, (model_class, options) in bench_engine.MEMORY_MODELS.items()}
    rows = bench_engine.memory_rows([quarter, data], models)
    assert [row["rows"] for row in rows] == [75, 300] * len(bench_engine.MEMORY_MODELS)
    assert rows[1]["train_bytes"] == sum(array.nbytes for array in (
        data.user_index, data.item_index, data.ratings, data.timestamps))
    for row in rows:
        assert row["composed_epoch_peak"] > 0 and row["step_peak"] > 0 and row["batches"] >= 1
        fused = not row["model"].startswith(("Caser", "AutoRec"))
        assert (row["fused_epoch_peak"] is not None) == fused
        if fused:
            assert row["fused_epoch_peak"] > 0
            assert row["fused_numba_allocations"] is None or row["fused_numba_allocations"] >= 0
    assert "| 300 |" in bench_engine.memory_table(rows)


def test_kernel_rows_on_a_tiny_problem(monkeypatch):
    for name, value in {"DENSE_ENTRIES": 2000, "SPARSE_ROWS": 50, "SPARSE_USED": 8}.items():
        monkeypatch.setattr(bench_engine, name, value)
    rng = np.random.default_rng(0)
    data = load("synthetic", n_users=30, n_items=40, n_interactions=300, seed=0)
    epochs = bench_engine.epoch_cases(data, rng)
    assert len(epochs) == 3 + len(bench_engine.EPOCH_MODELS)
    cases = bench_engine.optimizer_cases(rng) + epochs
    rows = bench_engine.benchmark_kernels(cases, 1, 1, PEAKS)
    assert len(rows) == len(cases)
    for row in rows:
        assert row["twin_s"] > 0 and row["kernel_s"] > 0
        assert ("gbytes_per_s" in row) != ("ns_per_sample" in row)
    assert "speed-up" in bench_engine.kernel_table(rows)


@pytest.mark.parametrize("n_samples", [None, 50])
@pytest.mark.parametrize("name", list(bench_engine.EPOCH_MODELS))
def test_fused_and_composed_epochs_start_alike_and_take_the_same_steps(name, n_samples):
    """The two sides of an epoch row get the same samples and parameters; in float64 they end
    at the same parameters (the kernel is an accelerator of the network)."""
    data = load("synthetic", n_users=30, n_items=40, n_interactions=300, seed=0)
    model = bench_engine.EPOCH_MODELS[name]()
    model.dtype = np.float64
    setup = _common.epoch_setup(model, data, n_samples=n_samples)
    fused, composed = (copy.deepcopy(setup) for _ in range(2))
    assert np.array_equal(fused[1].order, composed[1].order)
    if n_samples is not None:
        assert len(fused[1].order) == n_samples
    fused_loss = _common.fused_epoch(*fused)
    composed_loss = _common.composed_epoch(*composed)
    assert fused_loss == pytest.approx(composed_loss, rel=1e-9)
    for key, value in composed[0].network_.params.items():
        np.testing.assert_allclose(fused[0].network_.params[key], value, rtol=1e-9, atol=1e-12)


def test_by_name_orders_arguments_and_names_a_missing_one():
    def kernel(a, b, c):
        return a, b, c

    assert bench_engine.by_name(kernel, {"c": 3, "a": 1, "b": 2, "extra": 0}) == (1, 2, 3)
    with pytest.raises(TypeError, match=r"kernel: no benchmark input for parameter\(s\) \['c'\]"):
        bench_engine.by_name(kernel, {"a": 1, "b": 2})


def test_import_time_in_a_fresh_process():
    seconds = _common.run_fresh_python(bench_engine.IMPORT_CODE)
    assert 0 < seconds < 30


# ------------------------------------------------------------------ bench_scaling
def test_growth_exponent_recovers_a_power_law():
    sizes = np.array([1e3, 1e4, 1e5])
    assert bench_scaling.growth_exponent(sizes, 3 * sizes**1.5) == pytest.approx(1.5)
    assert bench_scaling.growth_exponent([1e3, 1e4], [2.0, -1.0]) is None  # one usable point


@pytest.fixture(scope="module")
def saved_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("scaling") / "tiny.npz"
    generated = bench_scaling.generate(3000, str(path))
    return path, generated


def test_generate_saves_what_load_saved_reads(saved_set):
    path, generated = saved_set
    data = bench_scaling.load_saved(path)
    assert len(data) == 3000
    assert (data.n_users, data.n_items) == (generated["n_users"], generated["n_items"])
    assert generated["generate_s"] > 0 and generated["generate_peak_rss_gb"] > 0


@pytest.mark.parametrize("model_name", list(bench_scaling.MODELS))
def test_fit_and_evaluate_reports_times_metrics_and_memory(saved_set, model_name):
    path, _ = saved_set
    row = bench_scaling.fit_and_evaluate(model_name, str(path))
    assert 0 < row["n_test_users"] <= bench_scaling.dataset_shape(3000)[0] < 3000 - row["n_train"] + 1
    assert row["eval_s"] > 0 and 0 <= row["hr@10"] <= 1
    assert row["setup_s"] + row["s_per_epoch"] > 0  # the 1-epoch fit time
    assert row["peak_rss_gb"] >= row["peak_before_eval_gb"] >= row["peak_after_split_gb"] > 0


def test_scaling_report_and_exponents_from_rows():
    rows = [{"n": n, "model": model, "n_users": n // 145, "s_per_epoch": 1e-7 * n, "setup_s": 0.1,
             "ns_per_sample": 100.0, "eval_s": 1e-6 * n, "hr@10": 0.1,
             "peak_rss_gb": 0.5, "generate_s": 2e-6 * n}
            for model in ("BiasedMF (K=100)", "BPRMF (K=64)") for n in (10**5, 10**6)]
    results = {"benchmark": "scaling", "rows": rows, "exponents": bench_scaling.exponents(rows),
               "machine": _common.machine_info(),
               "config": {"epochs": 2, "users_per": 145, "n_items": 20000, "seed": 0,
                          "split": "leave-last-out", "protocol": "full ranking"}}
    assert results["exponents"]["BPRMF (K=64)"]["s_per_epoch"] == pytest.approx(1.0)
    text = bench_scaling.report(results)
    assert "100 ns per rating per epoch (target <= 150: met)" in text
    json.dumps(results)


def test_a_worker_runs_in_a_fresh_process(tmp_path):
    generated = bench_scaling.in_fresh_process("generate", 1000, tmp_path / "set.npz")
    assert generated["n_users"] == bench_scaling.dataset_shape(1000)[0]


# ------------------------------------------------------------------ bench_implicit
@pytest.fixture(scope="module")
def implicit_data():
    return load("synthetic", n_users=60, n_items=300, n_interactions=1500, seed=0)


def test_leave_last_out_gets_the_sampled_column(implicit_data):
    runner = bench_implicit.Runner("Popularity", lambda seed: Popularity())
    results = bench_implicit.run_runner(runner, implicit_data, bench_implicit.PROTOCOLS, (0,))
    column = bench_implicit.SAMPLED_COLUMN
    assert column == "HR@10 (sampled, 100 neg)"
    sampled, full = (results["leave-last-out"]["mean"][key] for key in (column, "hr@10"))
    assert sampled >= full  # 100 candidates rank the test item at least as high as all 300
    assert column not in results["holdout 80/20"]["mean"]


def test_paired_lines_compare_rows_user_by_user(implicit_data):
    runner = bench_implicit.Runner("Popularity", lambda seed: Popularity())
    results = bench_implicit.run_runner(runner, implicit_data, bench_implicit.PROTOCOLS, (0, 1))
    per_user = results["leave-last-out"]["per_user_mean"]["hr@10"]
    assert np.mean(per_user) == pytest.approx(results["leave-last-out"]["mean"]["hr@10"])
    assert "per_user_mean" not in results["holdout 80/20"]
    ours, theirs = bench_implicit.PAIRED_ROWS[0]
    better = {"leave-last-out": {"per_user_mean": {"hr@10": [1.0] * len(per_user),
                                                   "ndcg@10": [0.5] * len(per_user)}}}
    rows = [{"name": ours + ")", "status": "ok", "protocols": better},
            {"name": theirs, "status": "ok", "protocols": results}]
    (line,) = bench_implicit.paired_lines({"rows": rows})
    assert line.startswith(f"{ours}) - {theirs} on leave-last-out")
    assert f"hr@10 {1.0 - np.mean(per_user):+.4f} [" in line


def test_bpr_defaults_is_a_search_and_the_rule_picks_m_1(implicit_data, monkeypatch):
    searches = []
    real_search = bench_bpr_defaults.search

    def recording_search(make_model, candidates, train, **options):
        searches.append((candidates, len(train), options))
        return real_search(make_model, candidates, train, **options)

    monkeypatch.setattr(bench_bpr_defaults, "search", recording_search)
    tiny = dict(n_factors=4, n_epochs=1, lr=0.01, reg=0.01)
    rows, chosen, how = bench_bpr_defaults.compare(implicit_data, tiny)
    candidates, n_train, options = searches[0]
    assert candidates == list(bench_bpr_defaults.SETTINGS.values())  # the same grid
    assert n_train < len(implicit_data) and options["validation"] == "loo"
    assert options["n_splits"] == bench_bpr_defaults.N_FOLDS and "3 splits" in how
    assert [row["setting"] for row in rows] == [*bench_bpr_defaults.SETTINGS,
                                                bench_bpr_defaults.PEER]
    fast = [row for row in rows if "m = 1" in row["setting"]]
    assert chosen == max(fast, key=lambda row: row["validation"]["hr@10"])["setting"]
    results = {"benchmark": "b", "machine": {"cpu": "c"}, "hyperparameters": {}, "chosen": "x",
               "validation": "v", "rows": [{"setting": "x", "validation": {"hr@10": 0.2,
                                                                          "ndcg@10": 0.1},
                                            "validation_seconds": 1.25,
                                            "test": {"hr@10": 0.1, "ndcg@10": 0.05}},
                                           {"setting": "peer",
                                            "skipped": "skipped (pip install implicit)"}]}
    text = bench_bpr_defaults.report(results)
    assert "| x | 0.2000 / 0.1000 | 1.2 | 0.1000 / 0.0500 | chosen |" in text
    assert "skipped (pip install implicit)" in text


def test_epochs_are_timed_through_the_network_and_the_fused_kernel(implicit_data):
    twins = bench_implicit.kernels_versus_twins(implicit_data, n_triples=200)
    assert twins["bpr_triples"] == 200
    assert twins["bpr_composed_network"] > twins["bpr_fused_kernel"] > 0
    assert twins["item_neighbours_ref"] > 0 and twins["item_neighbours_nb"] > 0
    epochs = bench_explicit.kernel_versus_network(implicit_data, n_samples=200)
    assert epochs["n_samples"] == 200 and epochs["network_s"] > epochs["fused_s"] > 0


def test_bpr_settings_use_the_sampler_arguments(implicit_data):
    for options in bench_bpr_defaults.SETTINGS.values():
        assert set(options) <= set(bench_bpr_defaults.BPRMF().get_params())
    (plain,) = [r for r in bench_implicit.make_runners() if "plain BPR" in r.name]
    assert plain.make(0).distribution == "uniform"


def test_privacy_rows_on_a_small_log(monkeypatch):
    pytest.importorskip("dp_accounting")
    monkeypatch.setattr(bench_privacy, "DP", {**bench_privacy.DP, "batch_size": 50})
    monkeypatch.setattr(bench_privacy, "FEDERATED", {**bench_privacy.FEDERATED, "server_lr": 10.0})
    data = load("synthetic", n_users=80, n_items=60, n_interactions=1500, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few test items without train rows
        train, test = holdout(data, test_size=0.2, seed=0)
    rows = bench_privacy.model_rows(train, test, True) + bench_privacy.forget_rows(train, test, True)
    names = [row["name"] for row in rows]
    assert names.count("DPBiasedMF") == len(bench_privacy.EPSILONS)
    assert names[-2:] == ["forget (exact)", "forget (approximate)"]
    assert all(np.isfinite(row["rmse"]) for row in rows)
    assert "| forget (exact) |" in bench_privacy.report(
        {"benchmark": "b", "machine": {"cpu": "c", "cores": 2, "load_average_at_start": [0]},
         "rows": rows})


def test_dsgd_bench_runs_quick_on_a_small_log(monkeypatch):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(bench_dsgd, "QUICK", {**bench_dsgd.QUICK, "large": (300, 100, 6000),
                                              "blocks": (1, 2)})
    data = load("synthetic", n_users=150, n_items=90, n_interactions=3000, seed=0)
    results = bench_dsgd.run(None, True, data=data)
    assert [row["model"] for row in results["accuracy"]] == [
        "BiasedMF", "DSGDBiasedMF d=1", "DSGDBiasedMF d=2"]
    assert all(abs(row["mean"] - results["accuracy"][0]["mean"]) < 0.05
               for row in results["accuracy"])
    assert [row["d"] for row in results["scaling"]] == [1, 2, 1, 2]
    assert all(row["simulated_s"] >= row["critical_s"] > 0 for row in results["scaling"])
    assert [row["speedup"] for row in results["scaling"]][::2] == [1.0, 1.0]  # d = 1: itself
    text = bench_dsgd.report(results)
    assert "| DSGD d=2, LocalCluster 2 workers (threads) |" in text
    assert "pays above (ratings)" in text


def test_lightfm_rows_skip_with_an_install_hint(implicit_data):
    if importlib.util.find_spec("lightfm") is not None:
        pytest.skip("lightfm is installed: its rows run")
    lightfm_rows = [runner for runner in bench_implicit.make_runners() if "LightFM" in runner.name]
    assert [runner.name for runner in lightfm_rows] == ["LightFM WARP", "LightFM BPR"]
    for runner in lightfm_rows:
        with pytest.raises(_common.Skipped, match=r"^skipped \(pip install lightfm\)$"):
            bench_implicit.run_runner(runner, implicit_data, bench_implicit.PROTOCOLS, (0,))


@pytest.mark.filterwarnings("ignore:OpenBLAS is configured")  # implicit's advice on BLAS threads
def test_als_alpha_is_chosen_on_a_validation_split(implicit_data):
    pytest.importorskip("implicit")
    alpha, scores = bench_implicit.choose_als_alpha(implicit_data)
    assert set(scores) == set(bench_implicit.ALS_ALPHAS)
    assert scores[alpha] == max(scores.values())
    (als,) = [r for r in bench_implicit.make_runners(alpha) if r.name.startswith("implicit ALS")]
    assert f"alpha {alpha:g}" in als.name


# ------------------------------------------------------------------ bench_explain
def test_bench_explain_measures_every_model_on_genre_data():
    import bench_explain

    data = load("synthetic", n_users=40, n_items=60, n_interactions=800, seed=0)
    table = bench_explain.rows(data, quick=True, n_users=5)
    assert [row["model"] for row in table] == ["BPRMF", "MatrixFactorization", "ItemKNN",
                                               "ContentBased", "Hybrid"]
    by_model = {row["model"]: row for row in table}
    for row in table:
        assert 0 <= row["explained"] <= 1 and 0 <= row["genre: random"] <= 1
    assert by_model["ItemKNN"]["drop: best"] >= by_model["ItemKNN"]["drop: random"]  # the largest
    assert by_model["BPRMF"]["drop: best"] == bench_explain.SKIPPED
    assert by_model["BPRMF"]["completeness gap"] == bench_explain.SKIPPED
    assert by_model["Hybrid"]["method"] == "gradient x input"
    assert by_model["Hybrid"]["completeness gap"] >= 0


# ------------------------------------------------------------------ bench_deep's PyTorch twins
# (benchmarks/_torch_deep_twins.py). The twins need torch (pytest.importorskip); the rows that
# would use them must say "skipped" without it.
import _deep_autoencoders  # noqa: E402
import _deep_content  # noqa: E402
import _deep_sequence  # noqa: E402
import _torch_deep_twins as twins  # noqa: E402

from nanorec.models.autoencoders import CDAE, AutoRec  # noqa: E402
from nanorec.models.content import ContentBased, Hybrid  # noqa: E402
from nanorec.models.sequence import Caser, RNNRec  # noqa: E402

TWIN_CASES = {  # tiny hyperparameters of each twinned model (and RNNRec's two losses)
    "AutoRec": (AutoRec, dict(n_hidden=8, batch_size=16)),
    "CDAE": (CDAE, dict(n_factors=6, batch_size=16)),
    "Caser": (Caser, dict(n_factors=6, seq_len=3, n_horizontal=4, n_vertical=2, batch_size=64,
                          reg=1e-3)),
    "RNNRec softmax": (RNNRec, dict(n_hidden=5, n_factors=4, seq_len=4, batch_size=8)),
    "RNNRec sampled": (RNNRec, dict(n_hidden=5, n_factors=4, seq_len=4, batch_size=8,
                                    loss="sampled", n_negatives=5, reg=1e-3)),
    "ContentBased": (ContentBased, dict(hidden=(7,), batch_size=64)),
    "Hybrid": (Hybrid, dict(hidden=(7,), n_factors=3, batch_size=64, reg=1e-3)),
}
NO_NETWORK_DROPOUT = {CDAE: {"corruption": 0.0}, Caser: {"dropout": 0.0}}  # masks torch draws


@pytest.fixture(scope="module")
def deep_data():
    """Ratings, timestamps, user and item features: every twinned model can fit it."""
    return load("synthetic", n_users=60, n_items=80, n_interactions=1200, seed=0)


def fitted_pair(case, data, n_epochs, dtype=np.float32, init="torch", no_dropout=False):
    """(nanorec model, its twin), both fitted on data with the case's hyperparameters."""
    model_class, options = TWIN_CASES[case]
    options = {**options, "n_epochs": n_epochs, "dtype": dtype}
    if no_dropout:
        options.update(NO_NETWORK_DROPOUT.get(model_class, {}))
    twin = twins.TWINS[model_class](init=init, **options).fit(data)
    return model_class(**options).fit(data), twin


@pytest.mark.parametrize("case", list(TWIN_CASES))
def test_twin_has_the_parameters_of_nanorecs_network(case, deep_data):
    pytest.importorskip("torch")
    model, twin = fitted_pair(case, deep_data, n_epochs=1)
    pairs = list(twin.parameter_pairs(model.network_))  # KeyError unless the same names
    assert len(pairs) == len(model.network_.params)
    for key, ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape), key
    trained = [p for p in twin.network_.parameters() if p.requires_grad]
    assert len(trained) == len(model.network_.params)
    assert sum(p.numel() for p in trained) == sum(p.size for p in model.network_.params.values())


@pytest.mark.parametrize("case", list(TWIN_CASES))
def test_twin_scores_like_nanorec_on_copied_weights(case, deep_data):
    """The strongest check of the architecture: nanorec's trained weights in the twin give the
    same scores (forward pass, fallbacks, clipping) to float32 precision."""
    pytest.importorskip("torch")
    model, twin = fitted_pair(case, deep_data, n_epochs=2)
    twin.copy_weights(model.network_)
    users = np.arange(deep_data.n_users)
    ours, theirs = model.score_items(users), twin.score_items(users)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5 * np.abs(ours).max())
    items = np.arange(deep_data.n_users) % deep_data.n_items
    np.testing.assert_allclose(twin.score_pairs(users, items), model.score_pairs(users, items),
                               rtol=1e-5, atol=1e-5 * np.abs(ours).max())


@pytest.mark.parametrize("case", list(TWIN_CASES))
def test_twin_trains_like_nanorec_from_the_same_start(case, deep_data):
    """From nanorec's initial weights (init="copy"), in float64, without a Dropout layer (whose
    masks torch draws), two epochs of the twin end at nanorec's parameters: the same batches,
    loss, gradients and Adam (weight decay, groups, lazy rows)."""
    pytest.importorskip("torch")
    model, twin = fitted_pair(case, deep_data, n_epochs=2, dtype=np.float64, init="copy",
                              no_dropout=True)
    for key, ours, theirs in twin.parameter_pairs(model.network_):
        np.testing.assert_allclose(theirs.detach().numpy(), ours, rtol=1e-9,
                                   atol=1e-12 * np.abs(ours).max(), err_msg=key)
    assert twin.history_["loss"] == pytest.approx(model.history_["loss"], rel=1e-9)


INIT_CASES = {  # larger layers, so that each weight's spread can be measured
    AutoRec: dict(n_hidden=32),
    CDAE: dict(n_factors=16),
    Caser: dict(n_factors=16, seq_len=3, n_horizontal=16, n_vertical=8),
    RNNRec: dict(n_hidden=24, n_factors=16, seq_len=4),
    ContentBased: dict(hidden=(32,)),
    Hybrid: dict(hidden=(32,), n_factors=16),
}


@pytest.mark.parametrize("model_class", list(INIT_CASES), ids=lambda cls: cls.__name__)
def test_twin_draws_its_weights_from_nanorecs_distributions(model_class, deep_data):
    """init="torch": zero where nanorec starts at zero, and each weight of 200 entries or more
    spread as nanorec's (std within 3 / sqrt(n), over 4 standard errors)."""
    torch = pytest.importorskip("torch")
    twin = twins.TWINS[model_class](n_epochs=1, **INIT_CASES[model_class]).fit(deep_data)
    twin.network_ = twin._module(torch)  # a fresh draw, untrained
    measured = 0  # the prepared nanorec model is never trained: its network_ is the initial one
    for key, ours, theirs in twin.parameter_pairs(twin.nanorec_.network_):
        theirs = theirs.detach().numpy()
        if not ours.any():
            assert not theirs.any(), key
        elif ours.size >= 200:
            assert theirs.std() == pytest.approx(ours.std(), rel=3 / np.sqrt(ours.size)), key
            measured += 1
    assert measured >= 1


def test_lazy_adam_takes_nanorecs_sparse_adam_steps():
    torch = pytest.importorskip("torch")
    from nanorec.optim.kernels import adam_sparse_ref

    rng = np.random.default_rng(0)
    ours = rng.standard_normal((6, 3))
    m, v = np.zeros_like(ours), np.zeros_like(ours)
    table = torch.nn.Embedding(6, 3, sparse=True).double()
    table.weight.data.copy_(torch.from_numpy(ours))
    optimizer = twins.lazy_adam(torch)([table.weight], lr=0.1, weight_decay=0.05)
    for step, rows in enumerate(([0, 2, 2], [5, 0], [3, 3, 3, 1]), start=1):
        dy = rng.standard_normal((len(rows), 3))
        optimizer.zero_grad()
        (table(torch.tensor(rows)) * torch.from_numpy(dy)).sum().backward()
        optimizer.step()
        unique = np.unique(rows)  # nanorec's coalesce: each row once, its contributions summed
        summed = np.stack([dy[np.asarray(rows) == row].sum(axis=0) for row in unique])
        adam_sparse_ref(ours, unique, summed, m, v, 0.1, 0.9, 0.999, 1e-8, 0.05, step)
        np.testing.assert_allclose(table.weight.detach().numpy(), ours, rtol=1e-12, atol=1e-14)


def test_twin_rows_say_skipped_without_torch(monkeypatch, deep_data):
    def no_torch():
        raise _common.Skipped("skipped (pip install torch)")

    monkeypatch.setattr(twins, "_torch", no_torch)
    train, test = bench_implicit.splits(deep_data, "leave-last-out", 0)
    rows = twins.model_rows("CDAE (K=6)", CDAE(n_factors=6, n_epochs=1), train,
                            _deep_autoencoders.ranking_evaluation(train, test), (1, 2))
    assert [row["model"] for row in rows] == ["CDAE (K=6)", "PyTorch twin of CDAE (1 thread)",
                                              "PyTorch twin of CDAE (2 threads)"]
    assert rows[0]["s/epoch"] > 0 and 0 <= rows[0]["hr@10"] <= 1
    assert all(row["fit_s"] == "skipped (pip install torch)" for row in rows[1:])


@pytest.fixture(scope="module")
def deep_tables():
    """--quick tables of the three families on a small synthetic log, twins on one thread."""
    pytest.importorskip("torch")
    data = load("synthetic", n_users=80, n_items=100, n_interactions=2000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cold-start splits of a small log warn about tiny parts
        return {family: module.table(data, True, (1,)) for family, module in
                (("autoencoders", _deep_autoencoders), ("sequence", _deep_sequence),
                 ("content", _deep_content))}


@pytest.mark.parametrize("family, twinned", [
    ("autoencoders", ("AutoRec", "CDAE")), ("sequence", ("Caser", "RNNRec")),
    ("content", ("ContentBased", "Hybrid")),
])
def test_quick_tables_put_each_twin_beside_its_model(deep_tables, family, twinned):
    import bench_deep

    rows = deep_tables[family]
    by_protocol = {protocol: [dict(zip(header, cells)) for cells in body]
                   for protocol, (header, body) in bench_deep.tables(rows).items()}
    for table in by_protocol.values():  # as printed: each twin row under its nanorec row
        for above, below in zip(table[:-1], table[1:]):
            if below["model"].startswith("PyTorch twin of"):
                assert below["model"] == f"PyTorch twin of {above['model'].split(' (')[0]} " \
                                         "(1 thread)"
    for index, row in enumerate(rows):
        if not row["model"].startswith("PyTorch twin of"):
            continue
        ours = next(r for r in rows[:index][::-1]  # the nanorec row of the same protocol
                    if r["protocol"] == row["protocol"] and not r["model"].startswith("PyTorch"))
        assert row["s/epoch"] > 0
        assert row[twins.RATIO] == pytest.approx(ours["s/epoch"] / row["s/epoch"])
        intervals = [key for key in row if key.endswith("nanorec - twin [95%]")]
        assert intervals
        for key in intervals:
            difference, low, high = map(float, row[key].replace("[", "").replace("]", "")
                                        .replace(",", "").split())
            assert low <= difference <= high
    names = [row["model"] for row in rows]
    for model in twinned:
        assert any(name.startswith(f"PyTorch twin of {model} ") for name in names), names


def test_bench_deep_passes_the_twin_settings_to_each_family(monkeypatch, capsys, tmp_path):
    import bench_deep

    calls = []

    def family(data_path, quick, twin_threads, twin_init):
        calls.append((data_path, quick, twin_threads, twin_init))
        return [{"model": "M", "protocol": "p", "hr@10": 0.5},
                {"model": "PyTorch twin of M (2 threads)", "protocol": "p", "hr@10": 0.25,
                 twins.RATIO: 0.5}]

    monkeypatch.setattr(bench_deep, "FAMILIES", {"f": family})
    monkeypatch.setattr(bench_deep, "write_results",
                        lambda name, results: tmp_path / f"{name}.json")
    bench_deep.main(["--data", "x.zip", "--quick", "--only", "f", "--twin-threads", "2",
                     "--twin-init", "copy"])
    assert calls == [("x.zip", True, (2,), "copy")]
    printed = capsys.readouterr().out
    assert "| PyTorch twin of M (2 threads) | 0.2500 | 0.5000 |" in printed
    assert "twin threads 2, init copy" in printed
    bench_deep.main(["--only", "f", "--twin-threads", "none"])
    assert calls[-1][2:] == ((), "torch")
    with pytest.raises(SystemExit):
        bench_deep.main(["--only", "f", "--twin-threads", "0"])
