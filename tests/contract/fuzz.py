"""Draw contract cases with `hypothesis`, run them, print the counts (``make fuzz``).

    .venv/bin/python -m tests.contract.fuzz --cases 10000 --lanes 2 [--seed N] [--shrink]

Exit status 1 if any promise was broken. ``--shrink`` reruns each broken promise's smallest
case with parts taken away (faults, query parameters, the credential) while it still breaks
the same promise, and prints what is left: a minimal failing example.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.contract.cases import API_TIMEOUT_MS, EXPLICIT, PREGENERATE_TIMEOUT_MS, contract_cases
from tests.contract.runner import INVARIANTS, Runner, describe


def draw_cases(count: int, *, random_seed: int | None = None) -> list[dict]:
    """`count` cases from `contract_cases`: the same ones for the same seed (derandomized
    without one), drawn by hypothesis's generation phase alone (no database, no shrinking:
    the cases run in other processes, later)."""
    drawn: list[dict] = []

    @settings(
        max_examples=count,
        derandomize=random_seed is None,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(contract_cases())
    def collect(case: dict) -> None:
        drawn.append(case)

    if random_seed is not None:
        collect = seed(random_seed)(collect)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    return drawn


def explicit_cases() -> list[dict]:
    """`tests.contract.cases.EXPLICIT`, each with its note."""
    return [{**case, "note": note} for note, case in EXPLICIT]


def simplifications(case: dict) -> list[dict]:
    """Smaller versions of `case`, one part taken away each."""
    out = []

    def variant(**changes: object) -> None:
        smaller = {k: v for k, v in case.items() if k not in ("id", "log")}
        smaller.update(changes)
        out.append(json.loads(json.dumps(smaller)))

    for index in range(len(case["faults"])):
        variant(faults=case["faults"][:index] + case["faults"][index + 1 :])
    full = API_TIMEOUT_MS if case["kind"] == "api" else PREGENERATE_TIMEOUT_MS
    if case["remaining_ms"] != full:
        variant(remaining_ms=full)
    if case["kind"] == "api":
        for name in case["query"]:
            variant(query={k: v for k, v in case["query"].items() if k != name})
        for name, values in case["query"].items():
            if len(values) > 1:
                variant(query={**case["query"], name: values[:1]})
        if case["authorization"] is not None:
            variant(authorization=None)
    else:
        records = case["records"]
        for index in range(len(records)):
            if len(records) > 1:
                variant(records=records[:index] + records[index + 1 :])
    return out


def shrink(runner: Runner, case: dict, invariant: str, budget: int = 25) -> dict:
    """`case` with parts taken away while it still breaks `invariant` (greedy)."""
    current = {k: v for k, v in case.items() if k not in ("id", "log")}
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for smaller in simplifications(current):
            tries += 1
            if invariant in runner.run_one(smaller).violations:
                current, improved = smaller, True
                break
            if tries >= budget:
                break
    return current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--lanes", type=int, default=3, help="worker processes in parallel")
    parser.add_argument("--batch", type=int, default=25, help="cases per worker process")
    parser.add_argument("--seed", type=int, help="a random seed (default: derandomized)")
    parser.add_argument(
        "--no-explicit", action="store_true", help="leave out the issue's reproductions"
    )
    parser.add_argument("--shrink", action="store_true", help="minimise one case per failure")
    parser.add_argument("--logs", type=Path, help="keep the logs of failing cases here")
    parser.add_argument("--json", type=Path, help="write every failing case here")
    args = parser.parse_args(argv)

    began = time.monotonic()
    cases = [] if args.no_explicit else explicit_cases()
    cases += draw_cases(args.cases - len(cases), random_seed=args.seed)
    drawn = time.monotonic() - began
    print(f"drew {len(cases)} cases in {drawn:.1f} s", file=sys.stderr, flush=True)
    with Runner(lanes=args.lanes, batch=args.batch, logs=args.logs) as runner:
        report = runner.run(cases, progress=True)
        print(report.summary())
        if report.failures:
            print("\nsmallest failing cases:")
            print(report.examples())
        if args.shrink:
            print("\nminimal failing examples:")
            for name in INVARIANTS:
                failing = [c for c in report.failures if name in c.violations]
                if not failing:
                    continue
                smallest = min(failing, key=lambda c: len(json.dumps(c.case)))
                minimal = shrink(runner, smallest.case, name)
                print(f"[{name}] {describe(minimal)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "case": c.case,
                        "violations": c.violations,
                        "outcome": c.outcome,
                        "exchanges": c.exchanges,
                    }
                    for c in report.failures
                ],
                indent=1,
                default=str,
            )
        )
    return 1 if report.failures or report.errors or len(report.checked) < len(cases) else 0


if __name__ == "__main__":
    sys.exit(main())
