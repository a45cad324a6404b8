"""The commander's command-id grammar, as recovery parses it (fast: no broker, no database)."""

from __future__ import annotations

from dispatch.service.commander import (
    abort_id,
    drone_command_id,
    ground_reroute_id,
    hold_id,
    is_abort_id,
    is_dispatch_id,
    latest_start,
    lost_link_resume_id,
    reroute_id,
    resume_id,
    start_attempt,
    start_id,
    upload_id,
    uses_steering_number,
)

MISSION = "M-D01-0123456789"


def test_the_dispatch_sequence_is_told_apart_from_every_other_mission_command() -> None:
    assert is_dispatch_id(upload_id(MISSION)) and is_dispatch_id(start_id(MISSION))
    others = [
        hold_id(MISSION, 1),
        resume_id(MISSION, 1),
        reroute_id(MISSION, 1),
        reroute_id(MISSION, 1, second=True),
        ground_reroute_id(MISSION, 1),
        lost_link_resume_id(MISSION, 1),
        abort_id(MISSION),
        abort_id(MISSION, 2),
        drone_command_id("D01", "rtp", 3),
    ]
    assert not any(is_dispatch_id(c) for c in others)
    assert len(set(others)) == len(others)


def test_holds_and_ground_reroutes_use_up_steering_numbers() -> None:
    # Recovery counts them so that a new hold or re-route never reuses a known id. The start
    # command (``.go``) matches the ``.g`` prefix too and has always been counted: harmless, the
    # counter only has to be past every number used.
    assert uses_steering_number(MISSION, hold_id(MISSION, 2), "Hold")
    assert uses_steering_number(MISSION, ground_reroute_id(MISSION, 3), "Reroute")
    assert not any(
        uses_steering_number(MISSION, c, k)
        for c, k in [
            (reroute_id(MISSION, 1), "Reroute"),
            (resume_id(MISSION, 1), "Resume"),
            (ground_reroute_id("M-D02-x", 1), "Reroute"),
            (upload_id(MISSION), "UploadMission"),
        ]
    )


def test_abort_ids_are_recognised_and_stay_within_the_protocols_id_length() -> None:
    long_mission = "M-" + "x" * 70
    assert is_abort_id(abort_id(MISSION)) and is_abort_id(abort_id(MISSION, 1))
    assert abort_id(MISSION, 1) == f"{MISSION}.ab1" and abort_id(MISSION) == f"{MISSION}.ab"
    assert len(abort_id(long_mission)) <= 64 and len(upload_id(long_mission)) <= 64
    assert not is_abort_id(resume_id(MISSION, 1))


def test_commands_outside_a_mission_are_named_after_their_drone_and_kind() -> None:
    rtp = drone_command_id("D01", "rtp", 2)
    assert rtp.startswith("D01.rtp.") and rtp.endswith(".2")
    assert drone_command_id("D01", "land").startswith("D01.land.")


def test_starts_that_replace_a_refused_one_are_numbered_and_the_latest_is_current() -> None:
    assert [start_id(MISSION, n) for n in range(3)] == [f"{MISSION}.go", f"{MISSION}.go1", f"{MISSION}.go2"]
    assert all(is_dispatch_id(start_id(MISSION, n)) for n in range(1, 6))
    assert [start_attempt(MISSION, start_id(MISSION, n)) for n in range(3)] == [0, 1, 2]
    assert start_attempt(MISSION, upload_id(MISSION)) is None
    assert start_attempt(MISSION, start_id("M-D02-x", 1)) is None
    assert not is_dispatch_id(f"{MISSION}.gox") and not is_dispatch_id(f"{MISSION}.go0")

    class View:
        def __init__(self, cmd_id: str) -> None:
            self.cmd_id = cmd_id

    stored = [
        View(upload_id(MISSION)),
        View(start_id(MISSION, 2)),
        View(start_id(MISSION)),
        View(hold_id(MISSION, 1)),
    ]
    current = latest_start(MISSION, stored)  # type: ignore[arg-type]
    assert current is not None and current.cmd_id == start_id(MISSION, 2)
    assert latest_start(MISSION, stored[:1]) is None  # type: ignore[arg-type]
