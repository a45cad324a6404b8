"""The errors the routing engines raise, shared by every engine."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of the routing engines' errors."""


class InvalidInstanceError(EngineError, ValueError):
    """The Instance itself is inconsistent; the message names the field and the offending entry."""


class NoSolutionFound(EngineError):
    """No solution placing all the mandatory work was found within the time limit."""
