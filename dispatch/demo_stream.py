"""The stream of office requests the demo files: the sample requests first, then synthetic ones.

Pure and deterministic for a seed. Each synthetic request is filed by the office of its pickup pad,
at a steady pace on the simulated clock, to a random other pad, with a weight, a priority and a
deadline drawn like a day at the city's offices: most documents light, one in five urgent (due in
30-45 minutes), the rest due in one to two hours. Pads that a no-fly zone covers stay in the draw:
intake rejects those requests with their reason, as it would for a real office.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from routing.requests import Request


@dataclass(frozen=True, slots=True)
class Filing:
    """One request as an office files it: when (simulated time), who, and the API request body."""

    at: datetime
    label: str  # the sample id (R001...) or a generated one (D015...)
    office_id: str
    body: dict[str, Any]  # the body of POST /api/v1/requests


def _pad_named(pads: dict[str, tuple[float, float]], lonlat: tuple[float, float]) -> str | None:
    for pad_id, (lon, lat) in pads.items():
        if abs(lon - lonlat[0]) < 1e-7 and abs(lat - lonlat[1]) < 1e-7:
            return pad_id
    return None


def _place(pads: dict[str, tuple[float, float]], lonlat: tuple[float, float]) -> str | list[float]:
    """A pad id where the point is a pad, else the coordinates."""
    return _pad_named(pads, lonlat) or [lonlat[0], lonlat[1]]


def sample_filing(req: Request, pads: dict[str, tuple[float, float]], at: datetime) -> Filing:
    """The filing of a sample request (its office is its pickup pad's office)."""
    office = _pad_named(pads, req.pickup)
    if office is None:
        raise ValueError(f"sample request {req.id}: its pickup is not one of the pads")
    body = {
        "pickup": _place(pads, req.pickup),
        "dropoff": _place(pads, req.dropoff),
        "weight_kg": req.weight_kg,
        "priority": req.priority,
        "ready_at": req.ready_at.isoformat(),
        "deadline": req.deadline.isoformat(),
        "description": f"sample request {req.id}",
    }
    return Filing(at, req.id, office, body)


def request_stream(
    samples: tuple[Request, ...],
    pads: dict[str, tuple[float, float]],
    start: datetime,
    total: int,
    *,
    every: timedelta = timedelta(seconds=90),
    seed: int = 1,
) -> list[Filing]:
    """``total`` filings: the samples (up to ``total``) at ``start``, then synthetic ones, one per
    ``every`` of simulated time, in filing order."""
    if total < 0:
        raise ValueError(f"the number of requests must be >= 0, got {total}")
    if len(pads) < 2:
        raise ValueError("the demo needs at least two pads")
    out = [sample_filing(r, pads, start) for r in samples[:total]]
    rng = random.Random(seed)
    names = sorted(pads)
    at = start
    for n in range(len(out), total):
        at += every
        src, dst = rng.sample(names, 2)
        urgent = rng.random() < 0.2
        due = timedelta(minutes=rng.choice((30, 45)) if urgent else rng.choice((60, 90, 120)))
        body = {
            "pickup": src,
            "dropoff": dst,
            "weight_kg": round(rng.choice((0.1, 0.2, 0.3, 0.5, 0.8, 1.2)), 1),
            "priority": "urgent" if urgent else "normal",
            "ready_at": at.isoformat(),
            "deadline": (at + due).isoformat(),
            "description": f"generated document {n + 1}",
        }
        out.append(Filing(at, f"D{n + 1:03d}", src, body))
    return out
