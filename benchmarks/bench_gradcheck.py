"""How many hypothesis examples does gradcheck need to catch each mutant of the bug zoo, and does
diagnose name its bug class?

    python benchmarks/bench_gradcheck.py [--fast]

Protocol. For every entry of nanorec.testing.zoo.ZOO, hypothesis draws cases from the entry's
strategy (derandomized: every run draws the same cases; no shrinking) and gradchecks the mutant
(h = 1e-6, tol = 1e-6) on each, up to MAX_EXAMPLES = 20 cases:

    caught            some drawn case failed the check
    examples needed   the number of cases drawn up to and including the first that failed
    named             the bug classes diagnose gave the failing rows of that first failure
    named right       the entry's bug class is among them and no other class is (rows with no
                      suspect are allowed: an RNN's weight rows have no pattern to read)
    caught / draws    over DRAWS cases of the same strategy (200; 20 with --fast, the very
                      cases above), how many catch the mutant: how often one draw suffices
    named right / caught   of those, how many are named right: how reliable the name is
                      beyond the first failure
    real passes       the un-mutated layer on the same DRAWS cases: how many pass (all should,
                      or the zoo is unsound)

hypothesis draws its simplest cases first (arrays of zeros, batches of one), where many bugs are
invisible: a sign flip of a zero gradient, a 1/N with N = 1. "examples needed" counts those too.

Targets (issue 16): 100% caught within 20 examples; the bug class named right for >= 90%.
Results go to benchmarks/results/bench_gradcheck-<time>.json with the machine facts.
"""

import argparse
import time

from _common import machine_info, markdown_table, package_version, publish
from hypothesis import HealthCheck, Phase, given, settings

from nanorec.testing.zoo import ZOO

MAX_EXAMPLES = 20
DRAWS = {False: 200, True: 20}  # by --fast
TARGETS = {"caught": 1.0, "named_right": 0.9}
COLUMNS = ("mutant", "bug class", "mutates", "caught", "examples needed", "named", "named right",
           "caught / draws", "named right / caught", "real passes")


def drawn_cases(strategy, n):
    """The first ``n`` cases hypothesis draws from ``strategy``, the same on every run
    (derandomized, no example database, no shrinking)."""
    cases = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def collect(case):
        cases.append(case)

    collect()
    return cases


def failing_rows(report):
    return [row for row in report.rows + report.accumulation_rows if not row.passed]


def named_right(bug_class, failing):
    """The bug class is named by some of the failing rows, and no other class by any."""
    return {row.suspect for row in failing} - {None} == {bug_class}


def measure(entry, draws):
    """The row of one zoo entry (see the module docstring for the columns)."""
    needed, failing = None, []
    for count, case in enumerate(drawn_cases(entry.cases, MAX_EXAMPLES), start=1):
        report = entry.check(case)
        if not report.passed:
            needed, failing = count, failing_rows(report)
            break
    wide = drawn_cases(entry.cases, draws)
    failing_per_draw = [failing_rows(entry.check(case)) for case in wide]
    caught = [rows for rows in failing_per_draw if rows]
    return {
        "mutant": entry.name,
        "bug class": entry.bug_class,
        "mutates": entry.parent.__name__,
        "description": entry.description,
        "caught": needed is not None,
        "examples needed": needed,
        "named": sorted({row.suspect for row in failing if row.suspect}),
        "named right": named_right(entry.bug_class, failing),
        "hints": [f"{row.name}: {row.hint}" for row in failing],
        "draws": len(wide),
        "draws caught": len(caught),
        "draws named right": sum(named_right(entry.bug_class, rows) for rows in caught),
        "real passes": sum(entry.check(case, mutated=False).passed for case in wide),
    }


def run(fast=False):
    """Every zoo entry measured; returns {"rows", "totals", ...}."""
    start = time.perf_counter()
    rows = [measure(entry, DRAWS[fast]) for entry in ZOO]
    n = len(rows)
    totals = {
        "mutants": n,
        "caught": sum(row["caught"] for row in rows) / n,
        "named_right": sum(row["named right"] for row in rows) / n,
        "mean_examples_needed": sum(row["examples needed"] or MAX_EXAMPLES for row in rows) / n,
        "draws_caught": sum(row["draws caught"] for row in rows),
        "draws_named_right": sum(row["draws named right"] for row in rows),
        "real_passes": sum(row["real passes"] for row in rows),
        "draws": sum(row["draws"] for row in rows),
    }
    totals["targets_met"] = (totals["caught"] >= TARGETS["caught"]
                             and totals["named_right"] >= TARGETS["named_right"])
    return {"fast": fast, "max_examples": MAX_EXAMPLES, "targets": TARGETS, "rows": rows,
            "totals": totals, "seconds": round(time.perf_counter() - start, 2)}


def report_text(results, machine):
    rows, totals = results["rows"], results["totals"]

    def cells(row):
        return [row["mutant"], row["bug class"], row["mutates"], "yes" if row["caught"] else "NO",
                row["examples needed"] or f"> {MAX_EXAMPLES}", ", ".join(row["named"]) or "-",
                "yes" if row["named right"] else "NO", f"{row['draws caught']}/{row['draws']}",
                f"{row['draws named right']}/{row['draws caught']}",
                f"{row['real passes']}/{row['draws']}"]

    lines = [
        f"{machine['cpu']}, {machine['cores']} cores, load {machine['load_average_at_start']}; "
        f"python {machine['python']}, numpy {machine['versions']['numpy']}, "
        f"hypothesis {package_version('hypothesis')}",
        f"gradcheck h=1e-6 tol=1e-6, at most {MAX_EXAMPLES} derandomized examples per mutant"
        f"{' (--fast)' if results['fast'] else ''}, {results['seconds']} s",
        "",
        markdown_table(COLUMNS, [cells(row) for row in rows]),
        "",
        f"caught within {MAX_EXAMPLES} examples: {totals['caught']:.0%} (target "
        f"{TARGETS['caught']:.0%}); named right: {totals['named_right']:.0%} (target >= "
        f"{TARGETS['named_right']:.0%}); mean examples needed "
        f"{totals['mean_examples_needed']:.1f}; "
        f"over {DRAWS[results['fast']]} draws each, named right in {totals['draws_named_right']} "
        f"of the {totals['draws_caught']} caught; real layers passed {totals['real_passes']} of "
        f"{totals['draws']} draws; "
        f"targets {'met' if totals['targets_met'] else 'MISSED'}",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true",
                        help=f"measure the wide columns on {DRAWS[True]} draws, not "
                             f"{DRAWS[False]}")
    args = parser.parse_args(argv)
    machine = machine_info()
    results = run(args.fast)
    results["machine"] = machine
    results["machine"]["versions"]["hypothesis"] = package_version("hypothesis")
    publish("bench_gradcheck", results, report_text(results, machine))
    return results


if __name__ == "__main__":
    main()
