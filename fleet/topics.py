"""MQTT topic names of the fleet protocol: ``{prefix}/drones/{drone_id}/{kind}``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_PREFIX: Final = "dd/v1"
KINDS: Final = ("telemetry", "state", "cmd", "ack", "event")
Kind = Literal["telemetry", "state", "cmd", "ack", "event"]

# Drone ids are single topic levels: no '/', no wildcards, nothing a broker ACL could misread.
# (?!\n): Python's '$' also matches before a final line feed ("D01\n"); JSON Schema's does not.
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}(?!\n)$"
_ID_RE = re.compile(ID_PATTERN)
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def valid_id(value: str) -> bool:
    """True if ``value`` can be a drone id (1-64 characters, letters, digits, ``_ . -``)."""
    return _ID_RE.match(value) is not None


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one prefix (default ``dd/v1``)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(
                f"invalid topic prefix {self.prefix!r}: '/'-separated levels of letters, digits, _ . -"
            )

    def topic(self, drone_id: str, kind: Kind) -> str:
        """The topic of one kind of message of one drone."""
        return f"{self.prefix}/drones/{drone_id}/{kind}"

    def all_of(self, kind: Kind) -> str:
        """Wildcard filter matching ``kind`` messages of every drone."""
        return f"{self.prefix}/drones/+/{kind}"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """``(drone_id, kind)`` of a topic under this prefix, or None if it is not one of ours."""
        head = self.prefix + "/drones/"
        if not topic.startswith(head):
            return None
        rest = topic[len(head) :]
        drone_id, sep, kind = rest.partition("/")
        if not sep or kind not in KINDS or not valid_id(drone_id):
            return None
        return drone_id, kind
