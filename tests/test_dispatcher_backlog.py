"""A backlog larger than a planning round: each round plans at most ``round_requests`` requests,
those due first, and the rest follow in later rounds until everything is delivered."""

from __future__ import annotations

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from tests.dispatcher_fixtures import states

ROUTES = [
    ("service-centre", "zhangde-road", 200),
    ("tax-bureau", "longan-district", 60),  # due first
    ("intermediate-court", "industrial-park", 180),
    ("yindu-district", "anyang-station", 120),
    ("wenfeng-district", "jiefang-road", 240),
    ("market-bureau", "service-centre", 90),
]


async def test_rounds_take_the_requests_due_first_and_clear_the_backlog(
    store: Store, broker, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, drones=2, speed=150.0, pool=solver_pool) as system:
        d = system.dispatcher
        d.planning.round_requests = 2
        ids = []
        for src, dst, due in ROUTES:
            created = await store.requests.create(request(src, dst, deadline_min=due), actor=src)
            ids.append(created.request.id)
        rounds_before = d.stats.plan_rounds
        await d._intake_pending()  # as the tick would: decide the requests filed by others
        d.wake()

        async def all_delivered() -> bool:
            return set((await states(store, ids)).values()) == {"delivered"}

        await d.wait_until(all_delivered, timeout_s=180)
        sizes = d.stats.round_requests[rounds_before:]
        assert sizes and max(sizes) == 2, sizes
        # The first round planned the two due first.
        first = await store.flights.carrying(ids[1])
        assert first, "the request due first was flown"
        timeline = await store.requests.timeline(ids[1])
        planned_at = next(e.at for e in timeline.entries if e.payload.get("to") == "planned")
        for rid in (ids[0], ids[4]):  # due last: planned no earlier
            later = await store.requests.timeline(rid)
            assert next(e.at for e in later.entries if e.payload.get("to") == "planned") >= planned_at
        assert not system.sim.breaches
        assert (await store.verify_audit()).ok


async def test_the_tick_leaves_a_filing_in_progress_to_its_filer(
    store: Store, broker, prefix: str, solver_pool: SolverPool
) -> None:
    # The tick decides requests left ``submitted`` by others; one this process is filing is on
    # its way through intake (claimed too, it would be decided twice under the write lock).
    async with running_system(store, broker, prefix, drones=2, speed=150.0, pool=solver_pool) as system:
        d = system.dispatcher
        left = (await store.requests.create(request("tax-bureau", "longan-district"), actor="x")).request.id
        with d.filing():
            filed = await store.requests.create(request("market-bureau", "jiefang-road"), actor="y")
            mine = filed.request.id
            await d._intake_pending()  # as the tick would
            seen = await states(store, [left, mine])
            assert seen[left] == "accepted" and seen[mine] == "submitted", seen
        await d._intake_pending()
        assert (await states(store, [mine]))[mine] == "accepted"
