"""Evidence on drone messages: a per-drone key and an HMAC-SHA256 over every state, ack and event.

A broker without an ACL lets any client publish on any drone's topics, so the topic (and the
``drone_id`` in the body) prove nothing. Each drone therefore holds a key of its own and signs what
it reports; the dispatcher checks the signature before anything changes.

Keys: the dispatcher holds one random *fleet secret* (32 bytes, a file of 64 hex digits, see
:meth:`FleetSecret.load`); the key of drone ``D`` is ``HMAC-SHA256(secret, "drone-key:" + D)``. The
dispatcher needs the one secret, each drone gets only its own key (``dronedispatch mqtt keys``
prints them), and one drone's key says nothing about another's or about the secret.

Signature: the ``sig`` member of a :class:`~fleet.messages.State`, :class:`~fleet.messages.Ack` or
event body, 64 hex digits of ``HMAC-SHA256(key, "dd-sig-v1\\n" + kind + "\\n" + canonical)`` where
``canonical`` is the body as :func:`fleet.messages.encode` writes it with ``sig`` null (msgspec
writes members in their declared order and floats and times in one form, so the receiver re-encodes
what it decoded and gets the same bytes). Telemetry is not signed (see docs/hardening.md, "Drones
sign what they report").

Replays: a signed body sent again as is is a duplicate. Events keep their ``msg_id`` and the link
passes each (drone, msg_id) on once; the dispatcher's custody changes are idempotent as well
(a second ``delivered`` finds the request delivered). Acks answer a ``cmd_id`` only once.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from fleet.messages import Ack, Event, Message, State, encode

SECRET_BYTES: Final = 32
SECRET_ENV: Final = "DRONEDISPATCH_FLEET_SECRET_FILE"
"""Environment variable naming the fleet secret file when ``--fleet-secret`` is not given."""
INSECURE_FLAG: Final = "--insecure-unsigned-fleet"
_SIG_DOMAIN: Final = b"dd-sig-v1\n"
_KEY_DOMAIN: Final = b"drone-key:"


@dataclass(frozen=True, slots=True)
class FleetSecret:
    """The dispatcher's fleet secret, from which every drone's key is derived (never printed)."""

    value: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.value) < SECRET_BYTES:
            raise ValueError(f"a fleet secret needs at least {SECRET_BYTES} bytes, got {len(self.value)}")

    @classmethod
    def generate(cls) -> FleetSecret:
        """A fresh random secret."""
        return cls(secrets.token_bytes(SECRET_BYTES))

    @classmethod
    def parse(cls, text: str) -> FleetSecret:
        """A secret from its hex text (at least 64 hex digits; surrounding white space ignored)."""
        try:
            value = bytes.fromhex(text.strip())
        except ValueError:
            raise ValueError("a fleet secret file holds hex digits only") from None
        return cls(value)

    @classmethod
    def load(cls, path: str | Path) -> FleetSecret:
        """The secret in file ``path`` (as :meth:`save` writes it)."""
        try:
            return cls.parse(Path(path).read_text(encoding="ascii"))
        except UnicodeDecodeError:
            raise ValueError(f"fleet secret {path}: not hex text") from None
        except ValueError as exc:
            raise ValueError(f"fleet secret {path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write the secret to a new file ``path`` readable by its owner only (FileExistsError if
        it exists: replacing it would change every drone's key)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(self.value.hex() + "\n")

    def drone_key(self, drone_id: str) -> bytes:
        """The signing key of one drone."""
        return hmac.new(self.value, _KEY_DOMAIN + drone_id.encode("utf-8"), hashlib.sha256).digest()


def signed_kind(message: Message) -> str | None:
    """The topic kind under which ``message`` is signed (``state``, ``ack``, ``event``), or None
    for a kind that carries no signature (telemetry, commands)."""
    if isinstance(message, State):
        return "state"
    if isinstance(message, Ack):
        return "ack"
    if isinstance(message, Event):
        return "event"
    return None


def signature(message: State | Ack | Event, key: bytes) -> str:
    """The signature of ``message`` (whatever its ``sig`` holds) under ``key``."""
    kind = signed_kind(message)
    if kind is None:
        raise TypeError(f"{type(message).__name__} messages are not signed")
    unsigned = msgspec.structs.replace(message, sig=None) if message.sig is not None else message
    mac = hmac.new(key, _SIG_DOMAIN + kind.encode() + b"\n" + encode(unsigned), hashlib.sha256)
    return mac.hexdigest()


def sign(message: Message, key: bytes) -> Message:
    """``message`` with its signature under ``key`` (unchanged if its kind is not signed)."""
    if not isinstance(message, State | Ack | Event):
        return message
    return msgspec.structs.replace(message, sig=signature(message, key))


def signature_problem(message: State | Ack | Event, secret: FleetSecret) -> str | None:
    """Why ``message`` is not signed by its drone (None when it is): compared in constant time."""
    if message.sig is None:
        return "no signature"
    expected = signature(message, secret.drone_key(message.drone_id))
    if not hmac.compare_digest(expected, message.sig):
        return "wrong signature"
    return None


def add_fleet_secret_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--fleet-secret FILE`` (default ``$DRONEDISPATCH_FLEET_SECRET_FILE``) and the opt-out
    ``--insecure-unsigned-fleet``."""
    group = parser.add_argument_group("drone message signatures")
    group.add_argument(
        "--fleet-secret",
        metavar="FILE",
        default=os.environ.get(SECRET_ENV) or None,
        help=f"fleet secret file (default ${SECRET_ENV}); create it with 'dronedispatch mqtt keys'",
    )
    group.add_argument(
        INSECURE_FLAG,
        action="store_true",
        help="INSECURE: no fleet secret; drone messages are not signed or checked, so any client on "
        "the broker can forge deliveries, faults and acks",
    )


def fleet_secret_from_args(args: argparse.Namespace) -> FleetSecret | None:
    """The fleet secret of :func:`add_fleet_secret_arguments`' options: None only with the explicit
    opt-out. Raises ValueError (no secret and no opt-out, or an unreadable or invalid file)."""
    if getattr(args, "insecure_unsigned_fleet", False):
        return None  # the explicit opt-out wins over a secret named in the environment
    if not args.fleet_secret:
        raise ValueError(
            f"no fleet secret: give --fleet-secret FILE or set ${SECRET_ENV} (create one with "
            f"'dronedispatch mqtt keys --fleet FLEET.json --secret FILE'), or run without signatures"
            f" with {INSECURE_FLAG}"
        )
    try:
        return FleetSecret.load(args.fleet_secret)
    except OSError as exc:
        raise ValueError(f"fleet secret {args.fleet_secret}: {exc.strerror or exc}") from None
