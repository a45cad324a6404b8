"""Flown separation benchmark: the bench city's plan flown by the simulator, losses counted by its monitor.

    python -m bench flown [--broker mqtt://127.0.0.1:1883] [--speed 30] [--seconds 5] [--runs off,on]

Plans the bench city (seed 1, 100 requests, 20 drones) with strategic deconfliction off (today's
plans) and on, then flies each plan: every drone of the fleet is a simulated MQTT client on the
broker, and each trip is uploaded and started (no dispatcher, one accelerated clock): the plan as
written at its planned departures without deconfliction; with it, each trip committed as the
dispatcher commits it (``place_trip``) and started with its take-off time. The simulator's
separation monitor (true positions, 50 m / 15 m, exact between samples) counts the losses of
separation, each classed by where the two were closest: within 50 m of a port, low elsewhere
(below half the cruise altitude: at a pad), or en route. Prints one row per run, with the
geofence breaches, how late the trips could be started and how many trips could not be placed
(``--list``: every loss too).

Target (issue 13): zero losses in every flown plan.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from collections import Counter
from datetime import timedelta

from bench.bench_city import city_problem
from dispatch.service.missions import mission_from_trip, protocol_stops
from dispatch.store.views import RequestCodes
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.link import FleetLink
from fleet.messages import Landed, Start, UploadMission
from routing.deconflict import DeconflictionParams, place_trip
from routing.intents import intent_frame
from routing.planner import plan
from routing.problem import DronePlan, Plan, PlanningProblem, Trip
from routing.separation import IntentIndex
from simulator.fleet_sim import SimulatedFleet


async def fly(
    problem: PlanningProblem, result: Plan, broker: BrokerAddress, speed: float
) -> tuple[SimulatedFleet, list[float], list[str]]:
    """Fly every trip of ``result`` at its planned departure; return the simulated fleet (stopped),
    how late each trip was started (simulated seconds) and why trips could not be placed. A
    deconflicted plan is committed trip by trip as the dispatcher does (``place_trip``: flown back
    to back, clear of the intents committed before, started with its take-off time)."""
    weights = {r.id: r.weight_kg for r in problem.requests}
    codes = {r.id: RequestCodes(r.id, "1111", "2222") for r in problem.requests}
    clock = ScaledClock(speed, problem.at)
    prefix = f"benchflown{time.time_ns()}/v1"
    sim = SimulatedFleet(problem.fleet, broker, clock=clock, prefix=prefix, zones=list(problem.zones))
    link = FleetLink(broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock)
    late: list[float] = []
    not_placed: list[str] = []

    deconflicted = bool(result.intents)
    index = IntentIndex(intent_frame(problem.fleet), {p.id: p.landing_spots for p in problem.fleet.ports})
    deadlines = {r.id: r.deadline for r in problem.requests}
    lead = timedelta(seconds=max(5.0, 0.25 * speed))

    async def drone(dp: DronePlan) -> None:
        model = problem.fleet.model_of(next(d for d in problem.fleet.drones if d.id == dp.drone_id))
        ready_at = problem.at  # the end of the drone's battery swap after its last landing
        for n, planned in enumerate(dp.trips):
            trip: Trip | None = planned
            if deconflicted:
                # As the dispatcher commits a trip: a little before its departure, flown back to
                # back, clear of the intents committed before it.
                await clock.sleep((planned.legs[0].depart - lead - clock.now()).total_seconds())
                placed = place_trip(
                    dp.drone_id,
                    1,
                    planned,
                    service_s=model.service_s,
                    earliest=max(clock.now() + lead, ready_at),
                    deadlines=deadlines,
                    index=index,
                )
                if isinstance(placed, str):
                    not_placed.append(placed)
                    continue
                trip, intent = placed
                index.add(intent)
            assert trip is not None
            spec = mission_from_trip(f"M-{dp.drone_id}-{n}", dp.drone_id, trip, weights)
            early = lead.total_seconds() / 2 if deconflicted else 0.0
            wait = (spec.depart - clock.now()).total_seconds() - early
            if wait > 0:
                await clock.sleep(wait)
            late.append((clock.now() - spec.depart).total_seconds())
            expires = clock.now() + timedelta(hours=2)
            upload = UploadMission(
                drone_id=dp.drone_id,
                cmd_id=f"up-{spec.mission_id}",
                expires_at=expires,
                mission_id=spec.mission_id,
                waypoints=[list(w) for w in spec.waypoints],  # type: ignore[misc]
                stops=protocol_stops(spec.stops, codes),
                lost_link="hold",
            )
            take_off = spec.depart if deconflicted else None
            start = Start(
                drone_id=dp.drone_id,
                cmd_id=f"go-{spec.mission_id}",
                expires_at=expires,
                mission_id=spec.mission_id,
                take_off_at=take_off,
            )
            for command in (upload, start):
                ack = await link.send(command)
                if not ack.accepted:
                    raise RuntimeError(f"{command.cmd_id} rejected: {ack.reason}")
            landed = await sim.wait_event(dp.drone_id, Landed, timeout_s=3600, mission_id=spec.mission_id)
            ready_at = landed.ts + timedelta(seconds=model.turnaround_s)

    async with link, sim:
        await asyncio.gather(*(drone(dp) for dp in result.drones if dp.trips))
    return sim, late, not_placed


def main(argv: list[str] | None = None) -> int:
    """Plan, fly and print the table."""
    ap = argparse.ArgumentParser(prog="python -m bench flown")
    ap.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--speed", type=float, default=30.0, help="simulated seconds per wall second")
    ap.add_argument("--seconds", type=float, default=5.0, help="solver time per plan")
    ap.add_argument("--runs", default="off,on", help="deconfliction off, on, or both (default)")
    ap.add_argument("--list", action="store_true", help="print every loss of separation")
    args = ap.parse_args(argv)
    logging.getLogger("simulator.separation").setLevel(logging.CRITICAL)  # the table says it all
    broker = BrokerAddress.parse(args.broker)
    problem = city_problem(1)
    cruise = min(m.cruise_altitude_m for m in problem.fleet.models.values())
    print(
        f"{'bench city (seed 1), flown':<28} {'trips':>5} {'losses':>6} {'en route':>8} {'pads':>5} "
        f"{'ports':>5} {'closest m':>9} {'breaches':>8} {'late s max':>10} {'not placed':>10} {'wall s':>7}"
    )
    for run in args.runs.split(","):
        params = DeconflictionParams() if run == "on" else None
        result = plan(problem, seconds=args.seconds, workers=1, deconfliction=params)
        t = time.perf_counter()
        sim, late, not_placed = asyncio.run(fly(problem, result, broker, args.speed))
        losses = sim.separation_losses
        ports = [sim.frame.to_xy(p.lon, p.lat) for p in problem.fleet.ports]
        where = {
            id(loss): "port"
            if min(math.dist(loss.xyz[:2], xy) for xy in ports) < 50.0
            else ("pad" if loss.xyz[2] < cruise / 2 else "en route")
            for loss in losses
        }
        kinds = Counter(where.values())
        closest = sim.separation.closest()
        print(
            f"{'deconfliction ' + run:<28} {sum(len(d.trips) for d in result.drones):>5} {len(losses):>6} "
            f"{kinds['en route']:>8} {kinds['pad']:>5} {kinds['port']:>5} "
            f"{closest.closest_m if closest else float('nan'):>9.1f} "
            f"{len(sim.breaches):>8} {max(late, default=0.0):>10.1f} {len(not_placed):>10} "
            f"{time.perf_counter() - t:>7.0f}",
            flush=True,
        )
        if args.list:
            for loss in losses:
                print(f"    {where[id(loss)]:<8} {loss.describe()}, {loss.xyz[2]:.0f} m up")
    return 0
