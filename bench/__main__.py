"""``python -m bench [name] [args...]``: run every ``bench/bench_*.py`` module's ``main()``, or the one named.

``name`` may be given with or without the ``bench_`` prefix (``routing`` or ``bench_routing``);
the remaining arguments go to that module's ``main(argv)``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    """Names of the benchmark modules (without the ``bench_`` prefix), sorted."""
    return sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    """Run the named benchmark (or all); return the worst exit status."""
    names = available()
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: python -m bench [NAME [ARGS...]]\nbenchmarks: {', '.join(names)}")
        return 0
    if argv:
        name = argv[0].removeprefix("bench_")
        if name not in names:
            print(
                f"python -m bench: no benchmark {argv[0]!r}; available: {', '.join(names)}", file=sys.stderr
            )
            return 2
        selected, rest = [name], argv[1:]
    else:
        selected, rest = names, []
    status = 0
    for name in selected:
        print(f"== bench_{name} ==", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        status = max(status, int(module.main(rest) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
