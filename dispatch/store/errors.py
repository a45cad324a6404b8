"""Errors the store raises; each message says what was wrong and with which record."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's errors."""


class NotFound(StoreError, LookupError):
    """The record asked for does not exist."""


class InvalidInput(StoreError, ValueError):
    """The data given to the store is malformed or inconsistent."""


class Conflict(StoreError):
    """The change conflicts with the stored state (a reused idempotency key, a stale state)."""


class Forbidden(StoreError, PermissionError):
    """The caller may not see or change this record (e.g. another office's request codes)."""
