"""The `dronedispatch` entry point: usage, unknown commands, and every registered module exists."""

from __future__ import annotations

import importlib

import pytest

from dispatch import cli


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: dronedispatch" in capsys.readouterr().out


def test_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fly-to-the-moon"]) == 2
    assert "unknown command 'fly-to-the-moon'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_module_has_main(name: str) -> None:
    module = importlib.import_module(cli.COMMANDS[name][0])
    assert callable(module.main)
