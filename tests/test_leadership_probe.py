"""The leader lock's liveness probe loop (``dispatch.service.leadership.probe_until_lost``): it
ends when cancelled, also when the cancel comes as a probe ends (the moment Python 3.11's
``asyncio.wait_for`` swallows a cancel), and reports the probe that failed."""

from __future__ import annotations

import asyncio

from dispatch.service.leadership import probe_until_lost


async def test_a_cancel_as_a_probe_ends_ends_the_loop() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    probes = 0

    async def probe() -> None:
        nonlocal probes
        probes += 1
        started.set()
        await release.wait()

    loop = asyncio.create_task(probe_until_lost(probe, 0.001))
    await started.wait()
    # The probe's answer and the cancel land in the same turn of the event loop.
    release.set()
    loop.cancel()
    done, _ = await asyncio.wait({loop}, timeout=5.0)  # a bound on a hang, not synchronisation
    assert loop in done and loop.cancelled(), f"the loop went on probing ({probes} probes)"


async def test_a_failed_probe_ends_the_loop_saying_why() -> None:
    async def probe() -> None:
        raise OSError("connection reset")

    why = await asyncio.wait_for(probe_until_lost(probe, 0.001), 5.0)
    assert "connection reset" in why
