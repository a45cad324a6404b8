"""Worker processes that never outlive the process that started them.

The solver runs searches in spawned processes. If their parent is killed (SIGKILL during a solve:
the dispatcher's crash-recovery path), a plain ``ProcessPoolExecutor`` worker keeps waiting on its
call queue forever, because it holds both ends of that queue's pipe and never sees end-of-file.
Every pool made here installs a guard in each worker: on Linux the kernel sends it SIGKILL when
its parent dies (``PR_SET_PDEATHSIG``), and everywhere a daemon thread exits the worker when its
parent pid changes.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def _watch_parent(parent_pid: int, period_s: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup: the work belongs to a process that no longer exists
        time.sleep(period_s)


def die_with_parent(parent_pid: int, period_s: float = 0.5) -> None:
    """Make this process exit when ``parent_pid`` dies (a pool initializer)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watcher thread below still covers it
    if os.getppid() != parent_pid:  # the parent died before the guard was in place
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, period_s), daemon=True).start()


def spawn_pool(max_workers: int) -> ProcessPoolExecutor:
    """A spawn-based process pool whose workers die with this process."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
