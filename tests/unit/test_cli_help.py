"""`billstack … --help`: every command list shows each command's whole summary, never one cut
short by click ("…stored as hashes; shown..." or a sentence stopped mid-way)."""

from __future__ import annotations

import click
import pytest

from billstack.cli import main
from cli_helpers import run


def _groups(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Group]]:
    found = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _groups(command, (*path, name))
    return found


def _command_lines(help_text: str) -> list[str]:
    """The entries of the help's "Commands:" section (one line each, or a wrapped one joined)."""
    section = help_text.partition("\nCommands:\n")[2]
    entries: list[str] = []
    for line in section.splitlines():
        if line.startswith("  ") and line[2] != " ":
            entries.append(line.strip())
        elif line.strip() and entries:
            entries[-1] += " " + line.strip()
    return entries


GROUPS = _groups(main)


@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize(("path", "group"), GROUPS, ids=[" ".join(p) or "billstack" for p, _ in GROUPS])
def test_command_lists_show_whole_summaries(
    path: tuple[str, ...], group: click.Group, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    entries = _command_lines(result.stdout)
    assert len(entries) == len(group.commands)
    for entry in entries:
        name, _, summary = entry.partition(" ")
        summary = summary.strip()
        assert not summary.endswith("..."), f"billstack {' '.join(path)}: {name}'s summary is cut: {summary!r}"
        assert summary.endswith("."), f"billstack {' '.join(path)}: {name}'s summary is not a sentence: {summary!r}"
        command = group.commands[name]
        # The summary shown is the command's whole short help, not click's first-sentence cut of a longer one.
        assert summary == command.get_short_help_str(limit=10_000), (name, summary)
