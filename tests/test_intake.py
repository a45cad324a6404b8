"""Intake: a request is accepted with an ETA or rejected at once with the planner's reason code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from dispatch.harness import SIM_START, request, sample_fleet, seed
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.link import FleetLink


@pytest.fixture
async def dispatcher(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> AsyncIterator[Dispatcher]:
    """A dispatcher with no drone online: intake judges against the fleet at its ports."""
    await seed(store, sample_fleet())
    clock = SharedClock.starting_now(60.0, SIM_START)
    async with (
        FleetLink(broker, client_id=f"intake-{prefix.split('/')[0]}", prefix=prefix, clock=clock) as link,
        Dispatcher(store, link, clock, pool=solver_pool) as d,
    ):
        yield d


@pytest.mark.parametrize(
    ("src", "dst", "weight", "deadline_min", "reason"),
    [
        ("wenfeng-district", "zhangde-road", 6.5, 120, "overweight"),
        ("service-centre", "crane-site", 0.3, 120, "dropoff_in_zone"),
        ("yindu-district", "zhangde-road", 0.3, 2, "deadline_infeasible"),
    ],
)
async def test_rejected_with_reason(
    dispatcher: Dispatcher, store: Store, src: str, dst: str, weight: float, deadline_min: float, reason: str
) -> None:
    view = await dispatcher.submit(request(src, dst, weight=weight, deadline_min=deadline_min))
    assert view.state == "rejected"
    assert view.state_reason == reason
    assert view.intake is not None and view.intake["reason"] == reason
    timeline = await store.requests.timeline(view.id)
    assert [e.action for e in timeline.entries] == ["submitted", "transition"]
    assert timeline.entries[1].payload["to"] == "rejected"


async def test_accepted_with_eta(dispatcher: Dispatcher, store: Store) -> None:
    new = request("service-centre", "zhangde-road", deadline_min=60, now=dispatcher.clock.now())
    view = await dispatcher.submit(new)
    assert view.state == "accepted"
    assert view.intake is not None
    details = view.intake["details"]
    assert details["eta_kind"] == "best_single_drone"
    eta = datetime.fromisoformat(details["eta"])
    assert new.ready_at is not None and new.deadline is not None
    assert new.ready_at < eta <= new.deadline
    assert details["eta_drone"] in {d.id for d in sample_fleet().drones}
    # Filing the same request again with its idempotency key changes nothing.
    keyed = request("service-centre", "jiefang-road", key="k-1", now=dispatcher.clock.now())
    first = await dispatcher.submit(keyed)
    again = await dispatcher.submit(keyed)
    assert again.id == first.id and again.state == first.state == "accepted"
