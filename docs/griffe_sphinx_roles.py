"""A griffe extension for the API pages: the code's docstrings cite names with Sphinx roles
(``:class:`~routing.problem.Plan```), which Markdown would print as ``:class:Plan``.

Each role becomes inline code: the last component with ``~``, the full name otherwise.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`")


def _plain(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def strip_roles(text: str) -> str:
    """``text`` with every Sphinx role written as inline code."""
    return _ROLE.sub(_plain, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called by griffe for every object it loads."""
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
