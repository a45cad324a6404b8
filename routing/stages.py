"""Wall time per stage of a planning call, for benchmarks (``dronedispatch bench round
--stages``). Off unless a caller opens a :func:`recording`: a stage then costs two clock reads.
Stages nest (the model build and the search are inside the solve); a stage entered several times
(chunks, repair passes) adds up. Pure: a clock read is not I/O."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[dict[str, float] | None] = ContextVar("planning_stages", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the enclosed block as stage ``name`` if a recording is open."""
    record = _current.get()
    if record is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        record[name] = record.get(name, 0.0) + time.perf_counter() - t0


@contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Record the stages of the planning calls made inside the block (seconds per stage name)."""
    record: dict[str, float] = {}
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)
