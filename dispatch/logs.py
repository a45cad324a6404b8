"""The programs' logging: one line per record, client input escaped, repeated failures counted.

Log records carry client input (request paths, ids, reasons, headers, exception messages). A
control character in it could forge a line of its own (``%0a``) or hide text (``%0d``, ANSI
escapes), so :class:`SafeFormatter` escapes it in every record it formats, whoever logged it and
however: nothing that logs has to remember to. :func:`configure_logging` installs it on the root
logger; ``serve``, ``run`` and the demo call it.

* The message is escaped entirely (``\\n`` too): it is always one physical line that starts
  with the timestamp.
* A traceback keeps its own line breaks, but every control character within its lines is
  escaped and each of its lines is indented, so no line of it can pass for a record.
* The same failure logged again (same logger, same message template, same exception type
  raised from the same place) gets its traceback only the first time; after that one short
  line saying how often it happened, so one stuck request cannot flood the log.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
import unicodedata
from collections import OrderedDict
from typing import IO, Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TRACEBACK_INDENT = "    "
MAX_REMEMBERED_FAILURES = 256  # distinct failures whose count is kept (the oldest is forgotten)
# Besides the C0/C1 controls (Cc), what splits a line for many readers and what reorders text.
_ALSO_ESCAPED = frozenset("\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" or ch in _ALSO_ESCAPED


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as a Python escape (``\\n``, ``\\x00``...).

    Control characters are the C0 and C1 controls, DEL, the Unicode line and paragraph separators
    and the bidirectional overrides. ``keep_newlines`` leaves ``\\n`` as is (for tracebacks).
    """
    if text.isprintable() and not any(ch in _ALSO_ESCAPED for ch in text):
        return text
    out = []
    for ch in text:
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif _unsafe(ch):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def _indented(text: str) -> str:
    """Each line of a multi-line text (a traceback, a stack) escaped and indented."""
    return "\n".join(TRACEBACK_INDENT + escape_controls(line) for line in text.split("\n"))


def _failure_key(record: logging.LogRecord) -> tuple[Any, ...] | None:
    """What makes two logged failures "the same": who logged what, and what was raised where."""
    if not record.exc_info or record.exc_info[1] is None:
        return None
    exc = record.exc_info[1]
    frames = tuple((f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__))
    return (record.name, str(record.msg), type(exc).__qualname__, frames)


class SafeFormatter(logging.Formatter):
    """A :class:`logging.Formatter` that escapes client input and counts repeated failures.

    See the module's description; ``fmt`` and ``datefmt`` are the standard ones.
    """

    def __init__(self, fmt: str | None = LOG_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._seen: OrderedDict[tuple[Any, ...], int] = OrderedDict()
        self._lock = threading.Lock()

    def _repeat_count(self, record: logging.LogRecord) -> int:
        """How often this record's failure was formatted before (0: the first time)."""
        key = _failure_key(record)
        if key is None:
            return 0
        with self._lock:
            count = self._seen.pop(key, 0)
            self._seen[key] = count + 1
            while len(self._seen) > MAX_REMEMBERED_FAILURES:
                self._seen.popitem(last=False)
        return count

    def format(self, record: logging.LogRecord) -> str:
        """The record on one line (plus an indented traceback the first time a failure is seen)."""
        repeats = self._repeat_count(record)
        # A copy: other handlers of the same record still see it as it was logged.
        safe = logging.makeLogRecord(record.__dict__)
        message = record.getMessage()
        if repeats and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += (
                f" [{type(exc).__name__}: {exc}; the same failure {repeats + 1} times,"
                " traceback logged the first time]"
            )
            safe.exc_info = None
            safe.stack_info = None
        safe.msg, safe.args, safe.exc_text = escape_controls(message), None, None
        return super().format(safe)

    def formatException(self, ei: Any) -> str:
        """The traceback, escaped and indented."""
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        """The stack, escaped and indented."""
        return _indented(super().formatStack(stack_info))


def configure_logging(verbose: bool = False, stream: IO[str] | None = None) -> logging.Handler:
    """Log to ``stream`` (default standard error) through :class:`SafeFormatter`, at INFO when
    ``verbose`` else WARNING; replaces the root logger's handlers. Returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(SafeFormatter())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)
    return handler
