"""Reporting flights to the airspace authority's management platform (UOM): an adapter at the edge.

:class:`~dispatch.authority.reporter.AuthorityReporter` turns the dispatcher's flight transitions
and the fleet link's telemetry into reports (:mod:`dispatch.authority.reports`), which it only
enqueues into a bounded backlog on disk (:mod:`dispatch.authority.backlog`); a background
:class:`~dispatch.authority.sender.Sender` delivers them in order to an HTTP endpoint or a JSONL
file. Fields and semantics: docs/authority.md.
"""

from dispatch.authority.backlog import Backlog
from dispatch.authority.reporter import AuthorityReporter
from dispatch.authority.sender import Sender, SenderStats, sink_for

__all__ = ["AuthorityReporter", "Backlog", "Sender", "SenderStats", "sink_for"]
