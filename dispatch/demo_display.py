"""The demo's live terminal display: a panel redrawn in place on a terminal, plain lines elsewhere.

``panel`` mode (a terminal) redraws a compact board about twice a second: simulated time, requests
by state, every drone with its state, battery and mission, and the latest request changes.
``lines`` mode (a pipe or a log file) prints one line per request change and a status line every
few seconds. ``off`` (``--headless``) prints nothing until the summary.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal, TextIO

Mode = Literal["panel", "lines", "off"]
STATE_ORDER = (
    "submitted",
    "accepted",
    "planned",
    "dispatched",
    "picked_up",
    "delivered",
    "rejected",
    "cancelled",
    "unserved",
    "failed",
    "returned",
)


@dataclass(frozen=True, slots=True)
class DroneLine:
    """One drone on the board."""

    drone_id: str
    state: str
    battery_pct: float | None
    mission_id: str | None
    documents: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the board shows at one moment."""

    sim_time: datetime
    filed: int
    total: int
    states: Counter[str]
    drones: tuple[DroneLine, ...]
    km_flown: float
    breaches: int
    separation_losses: int = 0  # the simulator's separation monitor's count so far


@dataclass(slots=True)
class ProgressDisplay:
    """Shows the demo's progress on ``out`` in the given mode."""

    out: TextIO
    mode: Mode
    tz: tzinfo | None = None
    status_every_s: float = 5.0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    _drawn_lines: int = 0
    _last_status: float = 0.0

    def _clock(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%H:%M:%S")

    def request_changed(self, at: datetime, label: str, state: str, reason: str | None = None) -> None:
        """A request moved to ``state`` at simulated time ``at``."""
        why = f" ({reason})" if reason else ""
        line = f"{self._clock(at)}  {label:<6} {state}{why}"
        if self.mode == "lines":
            print(f"  {line}", file=self.out, flush=True)
        elif self.mode == "panel":
            self.recent.append(line)

    def note(self, text: str) -> None:
        """A one-off message (the dashboard URL, a warning) above the board."""
        if self.mode == "off":
            return
        self._clear()
        print(text, file=self.out, flush=True)

    def refresh(self, snap: Snapshot) -> None:
        """Redraw the panel, or print a status line when one is due."""
        if self.mode == "off":
            return
        counts = "  ".join(f"{s} {snap.states[s]}" for s in STATE_ORDER if snap.states.get(s))
        status = (
            f"{self._clock(snap.sim_time)}  filed {snap.filed}/{snap.total}  {counts or '-'}  "
            f"| {snap.km_flown:.1f} km flown  | breaches {snap.breaches}"
            f"  | separation losses {snap.separation_losses}"
        )
        if self.mode == "lines":
            now = time.monotonic()
            if now - self._last_status >= self.status_every_s:
                self._last_status = now
                print(f"  -- {status}", file=self.out, flush=True)
            return
        lines = [status, ""]
        lines.append(f"  {'drone':<10} {'state':<11} {'battery':>7}  {'docs':>4}  mission")
        for d in snap.drones:
            battery = "-" if d.battery_pct is None else f"{d.battery_pct:.0f} %"
            lines.append(
                f"  {d.drone_id:<10} {d.state:<11} {battery:>7}  {d.documents:>4}  {d.mission_id or ''}"
            )
        lines.append("")
        lines.extend(f"  {r}" for r in self.recent)
        self._clear()
        print("\n".join(lines), file=self.out, flush=True)
        self._drawn_lines = len(lines)

    def close(self) -> None:
        """Leave the last panel on screen and move below it."""
        self._drawn_lines = 0

    def _clear(self) -> None:
        if self.mode == "panel" and self._drawn_lines:
            # Up to the first line of the panel, then clear to the end of the screen.
            self.out.write(f"\x1b[{self._drawn_lines}F\x1b[J")
            self._drawn_lines = 0
