"""``dronedispatch mqtt acl``: broker logins and an ACL so a drone can speak only as itself.

    dronedispatch mqtt acl --fleet FLEET.json --out DIR [--dispatcher-user dispatcher] [--prefix dd/v1]
                           [--port 1883] [--bind ADDRESS] [--force]

Writes ``DIR/passwords`` (Mosquitto password file, PBKDF2-SHA512 hashes, mode 0600), ``DIR/acl``
(Mosquitto acl_file) and ``DIR/mosquitto.conf`` (a listener that uses both), then prints every
user's password ONCE on stdout: give each drone its own, keep the dispatcher's, store none of them.
Refuses to overwrite existing files without ``--force`` (that would change every password).

    dronedispatch mqtt keys --fleet FLEET.json --secret FILE

Creates the fleet secret ``FILE`` (mode 0600) if it does not exist, and prints every drone's
signing key (``DRONE KEY`` lines, :mod:`fleet.signing`): install each on its drone only; the
dispatcher (``run``/``serve`` ``--fleet-secret FILE``) needs the secret, never the keys.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fleet.acl import PASSWORDS_HEADER, broker_access, mosquitto_conf
from fleet.description import FleetFormatError, load_fleet
from fleet.signing import FleetSecret
from fleet.topics import DEFAULT_PREFIX

FILES = ("passwords", "acl", "mosquitto.conf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dronedispatch mqtt", description="MQTT broker set-up for the fleet"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    acl = sub.add_parser("acl", help="write a Mosquitto password file, ACL and listener config for a fleet")
    acl.add_argument("--fleet", required=True, help="FLEET.json: one login per drone (user name = drone id)")
    acl.add_argument(
        "--out", required=True, type=Path, help="directory to write passwords, acl, mosquitto.conf"
    )
    acl.add_argument("--dispatcher-user", default="dispatcher", help="the dispatcher's user name")
    acl.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"topic prefix (default {DEFAULT_PREFIX})")
    acl.add_argument("--port", type=int, default=1883, help="listener port in mosquitto.conf (default 1883)")
    acl.add_argument("--bind", help="listener address in mosquitto.conf (default: every interface)")
    acl.add_argument("--force", action="store_true", help="overwrite existing files (new passwords for all)")
    keys = sub.add_parser("keys", help="create the fleet secret if needed and print each drone's signing key")
    keys.add_argument("--fleet", required=True, help="FLEET.json: one key per drone")
    keys.add_argument("--secret", required=True, type=Path, help="the fleet secret file (created if absent)")
    return parser


def main(argv: list[str]) -> int:
    """Run ``dronedispatch mqtt``; exit 0, or 2 on bad input."""
    args = _parser().parse_args(argv)
    if args.action == "keys":
        return _keys(args.fleet, args.secret)
    try:
        fleet = load_fleet(args.fleet)
        access = broker_access(
            [d.id for d in fleet.drones], dispatcher_user=args.dispatcher_user, prefix=args.prefix
        )
    except (OSError, FleetFormatError, ValueError) as exc:
        print(f"dronedispatch mqtt acl: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    existing = [name for name in FILES if (out / name).exists()]
    if existing and not args.force:
        print(
            f"dronedispatch mqtt acl: {out} already has {', '.join(existing)}; --force replaces them "
            "(and every password)",
            file=sys.stderr,
        )
        return 2
    out.mkdir(parents=True, exist_ok=True)
    passwords, acl = out / "passwords", out / "acl"
    _write_private(passwords, access.password_file)
    acl.write_text(access.acl_file, encoding="utf-8")
    conf = mosquitto_conf(str(passwords.resolve()), str(acl.resolve()), port=args.port, bind=args.bind)
    (out / "mosquitto.conf").write_text(conf, encoding="utf-8")
    print(f"wrote {passwords}, {acl} and {out / 'mosquitto.conf'} ({len(fleet.drones)} drones)")
    print(f"\n--- mosquitto.conf snippet ---\n{conf}---\n")
    print(f"{PASSWORDS_HEADER}; give each drone its own, e.g. mqtts://D01:PASSWORD@broker):")
    for user, password in access.passwords.items():
        print(f"{user} {password}")
    return 0


def _keys(fleet_file: str, secret_file: Path) -> int:
    try:
        fleet = load_fleet(fleet_file)
        if secret_file.exists():
            secret = FleetSecret.load(secret_file)
        else:
            secret = FleetSecret.generate()
            secret.save(secret_file)
            print(f"wrote a new fleet secret to {secret_file}: give it to the dispatcher (--fleet-secret)")
    except (OSError, FleetFormatError, ValueError) as exc:
        print(f"dronedispatch mqtt keys: {exc}", file=sys.stderr)
        return 2
    print("drone signing keys (install each on its drone only):")
    for drone in fleet.drones:
        print(f"{drone.id} {secret.drone_key(drone.id).hex()}")
    return 0


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (chown it to the broker's user when deploying)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
