"""The ``dronedispatch`` command line: one entry point, one module per subcommand.

Each subcommand lives in its own module exposing ``main(argv: list[str]) -> int``; the module is
imported only when its subcommand runs, so ``dronedispatch --help`` stays fast and a heavy
dependency of one command (OR-Tools, Litestar) never slows another.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("dispatch.demo", "run the demo on the embedded sample area (examples/anyang)"),
    "path": ("dispatch.commands.path", "shortest safe path between two points around the zones"),
    "plan": ("dispatch.commands.plan", "plan a fleet offline: zones + fleet + requests -> PLAN.geojson"),
    "bench": ("dispatch.commands.bench", "routing benchmarks on Solomon / Li & Lim instances"),
    "simulate": ("simulator.cli", "run a simulated fleet that speaks the MQTT protocol"),
    "run": ("dispatch.commands.run", "run the dispatcher service: intake, planning, fleet commanding"),
    "db": ("dispatch.commands.db", "create or upgrade the database schema, seed offices, pads and fleet"),
    "audit": ("dispatch.commands.audit", "verify the chain-of-custody audit log"),
    "serve": ("dispatch.commands.serve", "run the dispatcher with the HTTP API and the dashboard"),
    "keys": ("dispatch.commands.keys", "create, list and revoke API keys"),
    "mqtt": ("dispatch.commands.mqtt", "broker logins, ACL and drone signing keys for a fleet"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: dronedispatch COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'dronedispatch COMMAND --help' for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"dronedispatch: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
