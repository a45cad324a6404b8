"""The README's demo command runs on the embedded sample area: paths and an offline plan that
validates, then the whole live system (embedded broker, SQLite, simulated fleet, dispatcher, HTTP API
and dashboard) with offices filing requests over HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dispatch import cli
from dispatch.demo_stream import request_stream
from dispatch.store import open_store
from dispatch.store.directory import load_pads
from routing.requests import parse_requests
from tests.conftest import EXAMPLES

SAMPLE = EXAMPLES


def test_demo_offline_part_plans_the_sample_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.geojson"
    status = cli.main(["demo", "--seconds", "2", "--out", str(out), "--no-live"])
    text = capsys.readouterr().out
    assert status == 0, text
    assert "Exact safe paths" in text
    assert "validated independently" in text

    plan = json.loads(out.read_text())
    served = set(plan["plan"]["served"])
    unserved = {u["id"]: u["reason"] for u in plan["plan"]["unserved"]}
    # Every sample request is accounted for, and the two that cannot fly get their reason.
    assert len(served) + len(unserved) == 14
    assert unserved.get("R011") == "overweight"
    assert unserved.get("R012") == "dropoff_in_zone"
    kinds = {f["geometry"]["type"] for f in plan["features"]}
    assert kinds == {"LineString", "Polygon"}  # legs and their operational intents' volumes


def test_demo_live_files_over_http_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.geojson"
    argv = ["demo", "--live-only", "--out", str(out), "--requests", "20", "--speed", "120", "--port", "0"]
    status = cli.main([*argv, "--headless", "--json"])
    text = capsys.readouterr().out
    assert status == 0, text
    assert "dashboard: http://" not in text, "--headless prints no live display"
    live = json.loads(text.strip().splitlines()[-1])
    assert live["requests"] == 20 and live["not_filed"] == 0, live
    assert live["unfinished"] == {}, "every request must end in a final state"
    assert live["rejected"]["R011"] == "overweight"
    assert live["rejected"]["R012"] == "dropoff_in_zone"
    # Accelerated time magnifies the dispatcher's own latency, so a tight deadline may slip out of
    # reach; such a request must still end in a final state that says why.
    assert live["delivered"] + len(live["rejected"]) + len(live["other_final"]) == 20
    assert all(not why.endswith(": -") for why in live["other_final"].values()), text
    # At 120x a departure waits at least half a wall second (a simulated minute) so that its start
    # reaches the drone inside its window: a fresh-clone run delivered 11 of 20.
    assert live["delivered"] >= 10, text
    assert 0 <= live["on_time"] <= live["delivered"]
    assert live["median_request_to_delivery_min"] > 0
    assert live["geofence_breaches"] == 0
    # Every urgent request filed is listed, with its minutes if delivered.
    assert "R013" in live["urgent_minutes"], live
    assert all(m is None or m > 0 for m in live["urgent_minutes"].values()), live
    assert live["audit_chain_ok"] is True
    assert live["km_flown"] > 0
    # No two drones came within the separation minima (the simulator's monitor, an oracle).
    assert live["separation_losses"] == 0, live
    assert live["closest_approach_m"] is None


def test_demo_shows_progress_and_the_dashboard_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.geojson"
    argv = ["demo", "--live-only", "--out", str(out), "--requests", "3", "--speed", "120", "--port", "0"]
    status = cli.main(argv)
    text = capsys.readouterr().out
    assert status == 0, text
    assert "/dashboard#key=dd_" in text
    # Not a terminal: one line per request change, and the summary table.
    assert "R001   delivered" in text
    assert "geofence breaches" in text and "losses of separation" in text


def test_request_stream_is_deterministic_and_starts_with_the_samples() -> None:
    samples = parse_requests(json.loads((SAMPLE / "requests.json").read_text()))
    pads = {pid: (p.lon, p.lat) for pid, (_, p) in load_pads(SAMPLE / "pads.json").items()}
    start = samples[0].ready_at
    a = request_stream(samples, pads, start, 40, seed=3)
    b = request_stream(samples, pads, start, 40, seed=3)
    assert a == b
    assert [f.label for f in a[:14]] == [r.id for r in samples]
    generated = a[14:]
    assert len(generated) == 26
    assert all(f.body["pickup"] != f.body["dropoff"] for f in generated)
    assert all(f.office_id == f.body["pickup"] for f in generated)
    assert [f.at for f in generated] == sorted(f.at for f in generated)
    assert all(f.body["deadline"] > f.body["ready_at"] for f in generated)
    assert request_stream(samples, pads, start, 5)[-1].label == "R005"
    with pytest.raises(ValueError, match=">= 0"):
        request_stream(samples, pads, start, -1)


def test_demo_duration_ends_the_run_with_what_was_filed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.geojson"
    argv = ["demo", "--live-only", "--out", str(out), "--requests", "200", "--port", "0", "--duration", "4s"]
    status = cli.main([*argv, "--headless", "--json"])
    live = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0, live
    assert live["not_filed"] > 0 and live["requests"] + live["not_filed"] == 200, live
    assert live["geofence_breaches"] == 0 and live["audit_chain_ok"] is True


def test_the_ten_minute_licence_is_delivered_within_ten_minutes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The headline of the sample (R013): an urgent business licence and company seal from the
    # administrative service centre to an applicant's pad 6.2 km away, due 12 minutes after filing,
    # filed with the other samples at 09:00. Its flight takes 8 of the 10 minutes, so intake,
    # planning, the upload and the start lead have about 90 simulated seconds: at the demo's 60x
    # that is 1.5 s of wall time, which a machine running other suites has taken more than once
    # (R013 then missed, dispatched two simulated minutes late). At 20x a wall second of the
    # machine is 20 simulated seconds, not a minute; the run ends 15 simulated minutes in, after
    # the headline (the other samples, due later, are not the point here).
    requests = json.loads((SAMPLE / "requests.json").read_text())
    (headline,) = [r for r in requests if r["id"] == "R013"]
    assert headline["priority"] == "urgent"
    out = tmp_path / "plan.geojson"
    argv = [
        "demo",
        "--live-only",
        "--out",
        str(out),
        "--requests",
        "13",
        "--speed",
        "20",
        "--duration",
        "45s",
        "--port",
        "0",
        "--headless",
        "--json",
    ]
    status = cli.main(argv)
    live = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0, live
    minutes = live["urgent_minutes"]["R013"]
    timeline = asyncio.run(_timeline(tmp_path / "demo.db", "R013"))
    assert minutes is not None and minutes <= 10.0, (minutes, timeline, live)
    assert live["geofence_breaches"] == 0 and live["separation_losses"] == 0


async def _timeline(db: Path, label: str) -> list[str]:
    """The simulated times of a demo request's audit entries (filed, accepted, planned, ...): where
    its minutes went, when a run misses the headline."""
    store = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        (view,) = [v for v in await store.requests.list(limit=1000) if v.description.endswith(label)]
        entries = (await store.requests.timeline(view.id)).entries
        return [f"{e.at:%H:%M:%S} {e.action} {e.payload.get('to', '')}".rstrip() for e in entries]
    finally:
        await store.close()
