"""The layer rules of docs/design.md ("Layout and layer rules"), checked on the sources.

An AST walk over every module of a package collects what it imports (top-level, in functions and
under ``TYPE_CHECKING`` alike: each is a dependency), and each rule names the offending module,
the import and its line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OURS = ("airspace", "routing", "fleet", "simulator", "dispatch", "bench", "tests", "examples")
PURE = ("airspace", "routing")
# What would make a pure core do I/O or need an event loop (the libraries of pyproject.toml that do).
IMPURE = ("asyncio", "socket", "aiomqtt", "paho", "sqlalchemy", "litestar", "uvicorn", "httpx")


@dataclass(frozen=True, slots=True)
class Import:
    """One import: ``target`` is the module imported, or ``module.name`` for ``from module import name``."""

    module: str  # the importing module, dotted
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.module} imports {self.target} (line {self.line})"


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a source file under ``root`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import in one module's source, relative imports resolved against ``module``."""
    out: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            out += [Import(module, f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return out


def imports_of(package: str, root: Path = REPO) -> list[Import]:
    """Every import in every module of a package (a directory under ``root``)."""
    out: list[Import] = []
    for path in sorted((root / package).rglob("*.py")):
        out += imports_in(
            path.read_text(encoding="utf-8"), module_name(path, root), is_package=path.name == "__init__.py"
        )
    return out


def within(target: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``target`` is one of ``prefixes`` or inside one of them."""
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def ours_outside(imports: list[Import], allowed: tuple[str, ...]) -> list[str]:
    """The imports of our packages that are not within ``allowed``, as messages."""
    return [str(i) for i in imports if within(i.target, OURS) and not within(i.target, allowed)]


@pytest.mark.parametrize("package", ["airspace", "fleet"])
def test_airspace_and_fleet_import_nothing_of_ours(package: str) -> None:
    bad = ours_outside(imports_of(package), (package,))
    assert not bad, f"{package} must import nothing of ours:\n" + "\n".join(bad)


def test_routing_imports_only_airspace_and_the_fleet_description() -> None:
    bad = ours_outside(imports_of("routing"), ("routing", "airspace", "fleet.description"))
    assert not bad, "routing may import only airspace and fleet.description:\n" + "\n".join(bad)


def test_simulator_imports_fleet_airspace_and_only_the_separation_minima_of_routing() -> None:
    allowed = ("simulator", "fleet", "airspace", "routing.intents.SeparationMinima")
    bad = ours_outside(imports_of("simulator"), allowed)
    assert not bad, (
        "simulator may import fleet and airspace, and from routing only routing.intents.SeparationMinima"
        " (never dispatch):\n" + "\n".join(bad)
    )


@pytest.mark.parametrize("package", PURE)
def test_the_pure_cores_import_no_io_and_no_event_loop(package: str) -> None:
    bad = [str(i) for i in imports_of(package) if within(i.target, IMPURE)]
    assert not bad, f"{package} is pure (no I/O client, no asyncio):\n" + "\n".join(bad)


@pytest.mark.parametrize("package", ["dispatch/service", "dispatch/api"])
def test_service_and_api_never_import_the_store_models(package: str) -> None:
    bad = [str(i) for i in imports_of(package) if within(i.target, ("dispatch.store.models",))]
    assert not bad, (
        f"{package.replace('/', '.')} must go through the store's repositories, not its tables:\n"
        + "\n".join(bad)
    )


@pytest.mark.parametrize(
    "package", ["dispatch/service", "dispatch/api", "dispatch/settings", "dispatch/store"]
)
def test_the_service_layers_never_import_the_command_line(package: str) -> None:
    """The commands sit on top: a service, API, settings or store module needing one is upside down."""
    bad = [str(i) for i in imports_of(package) if within(i.target, ("dispatch.commands", "dispatch.cli"))]
    assert not bad, f"{package.replace('/', '.')} must not depend on the commands:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", ["airspace", "routing", "fleet", "simulator", "dispatch", "bench"])
def test_nothing_outside_the_tests_imports_them(package: str) -> None:
    bad = [str(i) for i in imports_of(package) if within(i.target, ("tests",))]
    assert not bad, (
        f"{package} must not depend on tests/ (the shared harness is dispatch.harness):\n" + "\n".join(bad)
    )


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: plain, from, relative, in a function and under TYPE_CHECKING."""
    pkg = tmp_path / "routing" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import sibling\n")
    (pkg / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import fleet.messages\n"
        "from ..other import thing\n"
        "if TYPE_CHECKING:\n"
        "    from dispatch.store.models import RequestRow\n"
        "def f():\n"
        "    from dispatch.store import models\n"
    )
    found = {(i.module, i.target) for i in imports_of("routing", tmp_path)}
    assert found == {
        ("routing.sub", "routing.sub.sibling"),
        ("routing.sub.mod", "typing.TYPE_CHECKING"),
        ("routing.sub.mod", "fleet.messages"),
        ("routing.sub.mod", "routing.other.thing"),
        ("routing.sub.mod", "dispatch.store.models.RequestRow"),
        ("routing.sub.mod", "dispatch.store.models"),
    }
    bad = ours_outside(imports_of("routing", tmp_path), ("routing", "airspace", "fleet.description"))
    assert len(bad) == 3 and "routing.sub.mod imports fleet.messages (line 2)" in bad
