"""How faithful and how useful are nanorec's explanations (model.explain) on MovieLens-100K?

    python benchmarks/bench_explain.py [--data PATH/ml-100k.zip] [--quick]

Protocol. Every rating is a positive interaction; each model is fitted on all of them, then
recommends its top 10 unseen items to N users drawn at random (seed 0; N = 200, 20 with --quick),
and ``model.explain(user, item, n=None)`` explains each of the N x 10 recommendations (the methods
are in nanorec.models.explain):

    item similarity    BPRMF, MatrixFactorization (cosine of item vectors), ItemKNN (its
                       similarities, which sum to the score): values over the user's past items
    gradient x input   ContentBased, Hybrid: values x_f ds/dx_f over the named user and item
                       features (genres, release year, demographics), baseline s(0)

Columns (each a mean over the recommendations it applies to):

    explained          share of the recommendations with at least one contribution (item
                       similarity lists only past items with value > 0)
    genre: best        of the explained recommendations, the share whose best explanation (the
                       largest value) names a genre of the recommended item: the best past item
                       shares a genre with it (item similarity), or the best feature is one of its
                       genres (gradient x input; "user profile: genre_X" and "item: genre_X" alike)
    genre: random      the same share for a random explanation of the same recommendation, the
                       baseline: a past item of the user drawn at random (item similarity), or the
                       expected share over all the features listed (gradient x input)
    drop: best         deletion test, (s - s') / s with s' the score once the best explaining past
                       item is removed from the user's history, without refitting; ItemKNN only,
                       whose score is a sum over the history (s' recomputed from neighbours_ and
                       similarities_). The embedding models learn a user vector and would need a
                       refit; the feature models explain by features, not past items: "skipped"
    drop: random       the same for a random past item of the user (the baseline)
    completeness gap   gradient x input only: |sum_f value_f - (s - s(0))| / |s - s(0)|; 0 when the
                       score is linear in the features, larger as ReLUs and products bend it
    top best feature   gradient x input only: the label that is most often the best explanation,
                       with the share of the explained recommendations where it is
    explain_ms         wall-clock milliseconds per explanation (one model.explain call)

Epochs: BPRMF and MatrixFactorization their defaults (100, 10). The feature models are slow to fit
on 100,000 rows (measured on a loaded 2-core machine: ContentBased about 10 s an epoch, Hybrid
about 50 s), so ContentBased gets 5 epochs and Hybrid 2, to keep the run under about 5 minutes;
their explanations are of these shorter fits. --quick: 5, 2, 1 and 1 epochs.

Results go to benchmarks/results/bench_explain-<time>.json with the machine facts.
"""

import argparse
import time

import numpy as np
from _common import load_data, machine_info, markdown_table, write_results

from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.knn import ItemKNN
from nanorec.models.mf import BPRMF
from nanorec.models.neural import MatrixFactorization

K = 10
SKIPPED = "skipped"
COLUMNS = ("explained", "genre: best", "genre: random", "drop: best", "drop: random",
           "completeness gap", "top best feature", "explain_ms")


def make_models(quick):
    """(label, unfitted model) for each row."""
    return [
        ("BPRMF", BPRMF(n_epochs=5 if quick else 100)),
        ("MatrixFactorization", MatrixFactorization(n_epochs=2 if quick else 10, implicit=True)),
        ("ItemKNN", ItemKNN()),
        ("ContentBased", ContentBased(n_epochs=1 if quick else 5)),
        ("Hybrid", Hybrid(n_epochs=1 if quick else 2)),
    ]


def genre_sets(data):
    """Item index -> set of its genre feature names (columns named "genre..." with a value > 0)."""
    names = np.array(data.item_feature_names)
    is_genre = np.char.startswith(names.astype(str), "genre")
    if not is_genre.any():
        raise ValueError("bench_explain needs item features named genre_*, as MovieLens has")
    genres = names[is_genre]
    return [set(genres[row > 0]) for row in data.item_features[:, is_genre]]


def rows(data, quick, n_users=None, seed=0):
    """One dict per model: "model", "method" and the COLUMNS (see the module docstring)."""
    n_users = (20 if quick else 200) if n_users is None else n_users
    genres = genre_sets(data)
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(data.n_users, min(n_users, data.n_users), replace=False))
    table = []
    for label, model in make_models(quick):
        model.fit(data)
        start = time.perf_counter()
        measured = measure_explanations(model, users, genres, np.random.default_rng(seed))
        explain_ms = 1000 * (time.perf_counter() - start) / (len(users) * K)
        table.append({"model": label, **measured, "explain_ms": round(explain_ms, 2)})
    return table


def measure_explanations(model, users, genres, rng):
    """The columns of one fitted model over the top-K recommendations of ``users`` (indices)."""
    item_position = {str(raw): index for index, raw in enumerate(model.item_ids_.tolist())}
    user_ids = model.user_ids_[users]
    recommended = model.recommend(user_ids, k=K)[0]
    csr = model.train_csr_
    found = {key: [] for key in ("explained", "genre: best", "genre: random", "drop: best",
                                 "drop: random", "completeness gap")}
    best_features = []
    method = None
    for user, user_id, items in zip(users, user_ids, recommended):
        history = csr.indices[csr.indptr[user] : csr.indptr[user + 1]]
        for item_id in items:
            item = item_position[str(item_id)]
            explanation = model.explain(user_id, item_id, n=None)
            method = "gradient x input" if explanation.baseline is not None else "item similarity"
            found["explained"].append(bool(explanation.contributions))
            if not explanation.contributions:
                continue
            if method == "item similarity":
                best = item_position[explanation.contributions[0][0].split(" ", 1)[1]]
                other = rng.choice(history[history != item])
                found["genre: best"].append(bool(genres[best] & genres[item]))
                found["genre: random"].append(bool(genres[other] & genres[item]))
                if isinstance(model, ItemKNN):
                    found["drop: best"].append(relative_drop(model, history, best, item))
                    found["drop: random"].append(relative_drop(model, history, other, item))
            else:
                labels = [label.split(": ", 1)[1] for label, _ in explanation.contributions]
                values = np.array([value for _, value in explanation.contributions])
                best_features.append(explanation.contributions[int(np.argmax(values))][0])
                found["genre: best"].append(labels[int(np.argmax(values))] in genres[item])
                found["genre: random"].append(np.mean([name in genres[item] for name in labels]))
                found["completeness gap"].append(completeness_gap(explanation, values))
    return {"method": method, **{key: _mean(values) for key, values in found.items()},
            "top best feature": _most_common(best_features)}


def _most_common(labels):
    """"label (share)" of the most frequent label, SKIPPED for none."""
    if not labels:
        return SKIPPED
    names, counts = np.unique(labels, return_counts=True)
    return f"{names[np.argmax(counts)]} ({counts.max() / len(labels):.2f})"


def relative_drop(model, history, removed, item):
    """(s - s') / s for ItemKNN, s' = the score of ``item`` from ``history`` without ``removed``."""
    before = itemknn_score(model, history, item)
    return (before - itemknn_score(model, history[history != removed], item)) / before


def itemknn_score(model, history, item):
    """ItemKNN's score without refitting: sum over j in history of sim(j, item) if item is one of
    j's neighbours (the formula of ItemKNN.score_items, for any history)."""
    is_neighbour = model.neighbours_[history] == item
    return float(np.sum(np.where(is_neighbour, model.similarities_[history], 0.0)))


def completeness_gap(explanation, values):
    """|sum of the values - (s - s(0))| / |s - s(0)|, NaN when s = s(0)."""
    change = explanation.score - explanation.baseline
    return abs(values.sum() - change) / abs(change) if abs(change) > 1e-12 else np.nan


def _mean(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return round(float(values.mean()), 4) if len(values) else SKIPPED


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few epochs, 20 users")
    args = parser.parse_args(argv)
    machine = machine_info()
    start = time.perf_counter()
    table = rows(load_data(args.data), args.quick)
    print(f"{machine['cpu']}, {machine['cores']} cores, load {machine['load_average_at_start']}")
    print(markdown_table(["model", "method", *COLUMNS],
                         [[row["model"], row["method"], *(row[key] for key in COLUMNS)]
                          for row in table]))
    results = {"machine": machine, "quick": args.quick, "k": K, "rows": table,
               "total_s": round(time.perf_counter() - start, 1)}
    print(f"results: {write_results('bench_explain', results)}")
    return results


if __name__ == "__main__":
    main()
