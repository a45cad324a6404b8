"""Benchmark readers, the independent checker, short solves and the bench command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch.commands import bench as bench_command
from routing.benchmarks import (
    BenchmarkFormatError,
    SolutionCheckError,
    check_routes,
    parse_lilim,
    parse_solomon,
    parse_solution_routes,
    to_instance,
)
from routing.engine import solve
from routing.engine_evaluation import check_solution
from tests.conftest import BENCH_DATA

LILIM = BENCH_DATA / "lilim"
SOLOMON = BENCH_DATA / "solomon"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_lilim_reader_counts_nodes_pairs_and_windows() -> None:
    bench = parse_lilim(read(LILIM / "lc101.txt"), "lc101.txt")
    assert (bench.name, bench.vehicles, bench.capacity, bench.n_nodes) == ("lc101", 25, 200, 107)
    assert len(bench.pairs) == 53
    assert (3, 75) in bench.pairs  # line "3 42 66 10 65 146 90 0 75"
    assert (bench.earliest[3], bench.latest[3], bench.service[3]) == (65, 146, 90)
    assert bench.latest[0] == 1236
    assert sum(bench.demand) == 0


def test_solomon_reader_counts_customers_and_windows() -> None:
    bench = parse_solomon(read(SOLOMON / "C101.txt"), "C101.txt")
    assert (bench.name, bench.vehicles, bench.capacity, bench.n_nodes) == ("C101", 25, 200, 101)
    assert bench.pairs == ()
    assert (bench.demand[5], bench.earliest[5], bench.latest[5], bench.service[5]) == (10, 15, 67, 90)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 x 912 967 90 2 0\n",
            r"bad\.txt:3: field 'demand': not a number",
        ),
        ("25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 10 912 967 90\n", r"bad\.txt:3: expected 9 fields"),
        (
            "25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 10 912 967 90 0 2\n2 4 6 -5 0 99 0 1 0\n",
            r"bad\.txt:3:.*delivery",
        ),
        ("25 200 1\n0 40 50 0 0 1236 0 0 0\n2 45 68 10 9 96 90 0 1\n", r"bad\.txt:3: field 'id': expected 1"),
        ("25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 10 912 900 90 0 2\n", r"bad\.txt:3: field 'latest'"),
        ("", r"bad\.txt:1: empty file"),
    ],
)
def test_lilim_reader_names_file_line_and_field(text: str, message: str) -> None:
    with pytest.raises(BenchmarkFormatError, match=message):
        parse_lilim(text, "bad.txt")


def test_solomon_reader_names_file_line_and_field() -> None:
    lines = read(SOLOMON / "R101.txt").splitlines()
    lines[12] = lines[12].replace("10", "ten", 1)  # first customer row (line 13)
    with pytest.raises(BenchmarkFormatError, match=r"R101\.txt:13: field"):
        parse_solomon("\n".join(lines), "R101.txt")
    with pytest.raises(BenchmarkFormatError, match="VEHICLE or CUSTOMER"):
        parse_solomon(read(LILIM / "lr101.txt"), "lr101.txt")


@pytest.mark.parametrize("name", ["lc101", "lr201", "lrc101"])
def test_checker_reproduces_the_published_best_known_lilim_costs(name: str) -> None:
    bench = parse_lilim(read(LILIM / f"{name}.txt"), name)
    routes = parse_solution_routes(read(LILIM / f"{name}.sol"), f"{name}.sol")
    bks = {row.split(",")[0]: row.split(",") for row in read(LILIM / "bks.csv").splitlines()[1:]}
    checked = check_routes(bench, routes)
    assert checked.vehicles == int(bks[name][1])
    assert checked.distance == pytest.approx(float(bks[name][2]), abs=1e-4)


def test_checker_reproduces_the_truncated_solomon_convention() -> None:
    bench = parse_solomon(read(SOLOMON / "RC101.txt"), "RC101.txt")
    routes = parse_solution_routes(read(SOLOMON / "RC101.sol"), "RC101.sol")
    assert check_routes(bench, routes).distance == pytest.approx(1619.8, abs=1e-9)


def test_checker_rejects_missing_swapped_and_late_visits() -> None:
    bench = parse_lilim(read(LILIM / "lc101.txt"), "lc101")
    routes = parse_solution_routes(read(LILIM / "lc101.sol"), "lc101.sol")
    with pytest.raises(SolutionCheckError, match="never visited"):
        check_routes(bench, routes[1:])
    route = next(r for r in routes if 3 in r)  # pickup 3, delivery 75
    swapped = [list(r) for r in routes]
    k = routes.index(route)
    i, j = route.index(3), route.index(75)
    swapped[k][i], swapped[k][j] = 75, 3
    with pytest.raises(SolutionCheckError) as swapped_error:
        check_routes(bench, swapped)
    assert any("delivery 75 before its pickup 3" in p for p in swapped_error.value.problems)
    reversed_routes = [list(reversed(r)) for r in routes]
    with pytest.raises(SolutionCheckError, match="after latest"):
        check_routes(bench, reversed_routes)


@pytest.mark.parametrize(
    ("folder", "name", "parse", "engine"),
    [
        (LILIM, "lc101", parse_lilim, "auto"),
        (LILIM, "lc101", parse_lilim, "ortools"),
        (SOLOMON, "R101", parse_solomon, "auto"),
    ],
)
def test_a_short_solve_passes_the_independent_checker(folder: Path, name: str, parse, engine: str) -> None:
    bench = parse(read(folder / f"{name}.txt"), name)
    instance = to_instance(bench)
    solution = solve(instance, time_limit_s=3.0, workers=1, engine=engine)
    assert check_solution(instance, solution) == []
    checked = check_routes(bench, [r for r in solution.routes if r])
    assert checked.vehicles == solution.vehicles_used
    # The engine's integer distance and the checker's agree to the scale's rounding.
    scale = 1000 if bench.kind == "pdptw" else 10
    assert checked.distance == pytest.approx(solution.distance / scale, abs=0.01 * checked.vehicles)


def test_bench_command_prints_one_checked_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_command.main(["vrptw", str(SOLOMON / "C101.txt"), "--seconds", "1", "--workers", "1"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"instance", "vehicles", "distance", "seconds", "routes"}
    assert sorted(node for route in record["routes"] for node in route) == list(range(1, 101))
    assert record["vehicles"] == len(record["routes"])


def test_bench_command_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.txt"
    bad.write_text("25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 68 10 912 967\n")
    assert bench_command.main(["pdptw", str(bad), "--seconds", "1"]) == 2
    assert "broken.txt:3: expected 9 fields" in capsys.readouterr().err
    assert bench_command.main(["pdptw", str(tmp_path / "absent.txt"), "--seconds", "1"]) == 2
    assert "absent.txt: cannot read" in capsys.readouterr().err
