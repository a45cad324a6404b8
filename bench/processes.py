"""Processes a benchmark starts and measures: a child ``dronedispatch`` command with its output
lines, and CPU time and peak memory of processes read from ``/proc`` (Linux)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Child:
    """A started process (in a session of its own): its standard output is kept as lines that a
    caller can wait for, its standard error goes to ``LOG_DIR/NAME.log``."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_line(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
        """The first output line matching ``pattern``; SystemExit with the log's tail if the process
        ends or ``timeout_s`` passes first."""
        end = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.lines:
                    if m := pattern.match(line):
                        return m
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._changed.wait(min(left, 1.0))
        state = "timed out" if self.proc.poll() is None else f"exited with status {self.proc.returncode}"
        raise SystemExit(f"bench system: {self.name} {state} before it was ready; its log:\n{self.tail()}")

    def tail(self) -> str:
        self._log.flush()
        return "\n".join([*self.lines[-20:], self.log_path.read_text(encoding="utf-8")[-3000:]])

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM, then SIGKILL (the whole process group: its solver processes too) if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(10)
        self._log.close()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def broker_pid(port: int) -> int | None:
    """The local Mosquitto listening on ``port``, if exactly one runs (for its CPU)."""
    found = [
        int(p.parent.name)
        for p in Path("/proc").glob("[0-9]*/comm")
        if _read(p).strip() == "mosquitto" and (port == 1883 or str(port) in _read(p.parent / "cmdline"))
    ]
    return found[0] if len(found) == 1 else None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


@dataclass
class Usage:
    """CPU seconds of a set of processes at the window's start, to take the difference at its end."""

    pids: dict[str, list[int]]
    cpu0: dict[str, float] = field(default_factory=dict)

    machine0: float = 0.0

    def start(self) -> None:
        """Take the CPU times at the window's start."""
        self.cpu0 = {k: sum(cpu_s(p) for p in ps) for k, ps in self.pids.items()}
        self.machine0 = machine_busy_s()

    def rows(self, wall_s: float) -> list[tuple[str, ...]]:
        """(process, CPU % of one core over the window, peak RSS MB) per process group."""
        rows: list[tuple[str, ...]] = []
        ours = 0.0
        for k, ps in self.pids.items():
            cpu = sum(cpu_s(p) for p in ps) - self.cpu0.get(k, 0.0)
            rss = [peak_rss_mb(p) for p in ps]
            mem = f"{max(rss):.0f}" if len(ps) == 1 else f"{max(rss):.0f} each, {sum(rss):.0f} total"
            rows.append((k, f"{100 * cpu / wall_s:.0f}%", mem))
            ours += cpu
        machine = machine_busy_s() - self.machine0
        rows.append(("other processes on the machine", f"{100 * max(0.0, machine - ours) / wall_s:.0f}%", ""))
        return rows
