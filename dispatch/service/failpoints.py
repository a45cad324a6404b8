"""Failpoints: named moments at which a test makes the dispatcher die, with a real SIGKILL.

Set ``DRONEDISPATCH_FAILPOINTS`` in the environment of a ``dronedispatch run`` to a comma-separated
list of failpoint names, each optionally ``name=N`` ("on the N-th time it is reached"; default the
first). When the process reaches an armed point for that time it prints ``failpoint NAME`` on
standard output (flushed) and sends itself SIGKILL: no ``finally`` block, no ``atexit`` handler,
no transaction rollback runs, exactly as if the machine had lost power at that line.

The variable is read once, when this module is first imported. Unset (production), a failpoint
costs one lookup in an empty dict.

The points the dispatcher has (see :mod:`dispatch.service.dispatcher`):

- ``plan.solved``: a planning round's solver returned; nothing of the plan is stored yet.
- ``plan.committed``: one drone's trip is stored (flight recorded, its requests ``planned``), its
  commands are not recorded yet, and the round's other trips are not stored.
- ``command.sent.KIND`` (``KIND``: ``UploadMission``, ``Start``, ``Hold``, ``Reroute``, ``Resume``...):
  a recorded command is marked sent in the store and about to be published.
- ``command.acked.KIND``: the drone's answer to such a command arrived, not yet stored.
- ``reroute.begun``: a zone change made the dispatcher start re-routing a flight; nothing of the
  re-route is stored yet.
- ``reroute.held``: the drone acknowledged the re-route's hold; no replacement computed or sent.
- ``reroute.sent``: the drone acknowledged the replacement route (its ack is stored); the flight's
  ``rerouted`` note and the resume are not.
"""

from __future__ import annotations

import os
import signal

ENV = "DRONEDISPATCH_FAILPOINTS"
LINE = "failpoint"  # what is printed before the kill: ``failpoint NAME``


def parse(spec: str) -> dict[str, int]:
    """``"a,b=3"`` -> ``{"a": 1, "b": 3}`` (ValueError for a count that is not a positive integer)."""
    armed: dict[str, int] = {}
    for item in spec.split(","):
        name, _, count = item.strip().partition("=")
        if not name:
            continue
        n = int(count) if count else 1
        if n < 1:
            raise ValueError(f"{ENV}: {item!r}: the hit count must be >= 1")
        armed[name] = n
    return armed


_armed: dict[str, int] = parse(os.environ.get(ENV, ""))
_hits: dict[str, int] = {}


def failpoint(name: str) -> None:
    """Die here with SIGKILL if ``DRONEDISPATCH_FAILPOINTS`` arms ``name`` for this hit; else nothing."""
    if name not in _armed:
        return
    _hits[name] = hits = _hits.get(name, 0) + 1
    if hits == _armed[name]:
        print(f"{LINE} {name}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
