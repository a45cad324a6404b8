"""The README's demo command runs on the embedded sample area and writes a plan that validates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch import cli


def test_demo_shows_paths_and_writes_a_valid_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.geojson"
    assert cli.main(["demo", "--seconds", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Exact safe paths" in text
    assert "validated independently" in text
    plan = json.loads(out.read_text())
    served = set(plan["plan"]["served"])
    unserved = {u["id"]: u["reason"] for u in plan["plan"]["unserved"]}
    # Every sample request is accounted for, and the two that cannot fly get their reason.
    assert len(served) + len(unserved) == 14
    assert unserved.get("R011") == "overweight"
    assert unserved.get("R012") == "dropoff_in_zone"
    assert all(f["geometry"]["type"] == "LineString" for f in plan["features"])
