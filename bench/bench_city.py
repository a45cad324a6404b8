"""City-sized dispatch benchmark: 100 requests, 20 drones, 4 ports, 60 zones (seeded generator).

Measures the time to the first feasible (validated) plan, then compares the plan found in 5 s
with the plan found in 60 s (served requests by priority, distance). Prints a table. Run it with
``python -m bench.bench_city [--seed N] [--long SECONDS]``.

Targets: first feasible plan <= 1 s of solver time; the 5 s plan within 2 % of the 60 s plan.
"""

from __future__ import annotations

import argparse
import time

from routing.planner import plan
from routing.prepared import prepare
from routing.problem import Plan, PlanningProblem
from routing.synthetic_city import T0, city_problem
from routing.validate import validate_plan

__all__ = ["T0", "city_problem", "main"]


def _summary(problem: PlanningProblem, result: Plan) -> tuple[int, int, float]:
    urgent = {r.id for r in problem.requests if r.urgent}
    served = set(result.served)
    return len(served & urgent), len(served - urgent), result.distance_m / 1000


def main(argv: list[str] | None = None) -> int:
    """Run the city benchmark and print its table."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_city")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--short", type=float, default=5.0)
    ap.add_argument("--long", type=float, default=60.0)
    args = ap.parse_args(argv)
    problem = city_problem(args.seed)
    t = time.perf_counter()
    prep = prepare(problem)
    matrices_s = time.perf_counter() - t
    print(
        f"city seed {args.seed}: {len(problem.requests)} requests, {len(problem.fleet.drones)} drones, "
        f"{len(problem.fleet.ports)} ports, {len(problem.zones)} zones, {len(prep.sites)} sites; "
        f"matrices {matrices_s:.2f} s"
    )
    rows = []
    first: tuple[float, float] | None = None
    for limit in (0.1, 0.25, 0.5, 1.0, 2.0):
        t = time.perf_counter()
        result = plan(problem, seconds=limit, workers=1)
        wall = time.perf_counter() - t
        if validate_plan(problem, result) == [] and result.served:
            first = (limit, wall)
            rows.append((f"first ({limit:g} s limit)", wall, result))
            break
    for limit in (args.short, args.long):
        t = time.perf_counter()
        result = plan(problem, seconds=limit, workers=1)
        rows.append((f"{limit:g} s", time.perf_counter() - t, result))
    header = f"{'run':<20} {'wall s':>7} {'urgent':>7} {'normal':>7} {'km':>9} {'valid':>6}"
    print(f"\n{header}  unserved by reason")
    for name, wall, result in rows:
        u, n, km = _summary(problem, result)
        by_reason: dict[str, int] = {}
        for x in result.unserved:
            by_reason[x.reason] = by_reason.get(x.reason, 0) + 1
        ok = "yes" if not validate_plan(problem, result) else "NO"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()))
        print(f"{name:<20} {wall:>7.2f} {u:>7} {n:>7} {km:>9.2f} {ok:>6}  {reasons}")
    short, long_ = rows[-2][2], rows[-1][2]
    su, sn, skm = _summary(problem, short)
    lu, ln, lkm = _summary(problem, long_)
    print()
    if first is not None:
        print(
            f"first feasible plan: solver limit {first[0]:g} s, wall {first[1]:.2f} s (with matrices, checks)"
        )
    served_gap = 100 * ((lu + ln) - (su + sn)) / max(1, lu + ln)
    km_gap = 100 * (skm - lkm) / max(lkm, 1e-9)
    print(
        f"{args.short:g} s vs {args.long:g} s: served urgent {su}/{lu}, normal {sn}/{ln} "
        f"(gap {served_gap:.1f} %), distance {skm:.1f} vs {lkm:.1f} km ({km_gap:+.1f} %)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
