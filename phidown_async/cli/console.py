"""Terminal output shared by the commands: consoles, sizes, usage errors, the command line.

Only the CLI prints. Messages for the user go to stdout; errors go to stderr as one clear
sentence, followed by the exit code of DESIGN.md (2 for bad usage, 1 for a failed run).
"""

from __future__ import annotations

import contextvars
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# 128 + SIGINT, what shells report for a program stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

PROGRAM = "phidown-async"

# The arguments of the command being run, when the caller knows them better than sys.argv
# (the demo runs commands in-process).
current_args: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "phidown_async_cli_args", default=None
)


class _Output(Console):
    """A console that lets a closed pipe (``| head -1``) reach the command group, which
    ends the run quietly with exit 0 (rich itself would exit 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def stdout() -> Console:
    """A console on stdout (colours and live displays only when it is a terminal)."""
    return _Output(highlight=False, soft_wrap=False)


def stderr() -> Console:
    """A console on stderr for error messages."""
    return _Output(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` on stderr and leave with ``code``.

    Raises:
        typer.Exit: always.
    """
    stderr().print(f"[bold red]Error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


def command_line() -> str | None:
    """The command being run, quoted for a shell, or None when it cannot be told."""
    args = current_args.get()
    if args is None:
        program = Path(sys.argv[0]).name if sys.argv else ""
        if not program.startswith(PROGRAM):
            return None
        args = sys.argv[1:]
    return shlex.join([PROGRAM, *args])


def format_bytes(count: float | None) -> str:
    """``count`` bytes as text in decimal units (``12.3 MB``), ``?`` when unknown."""
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # unreachable; keeps type checkers content


def format_duration(seconds: float) -> str:
    """A run's duration: ``4.2 s`` under a minute, else ``H:MM:SS``."""
    return f"{seconds:.1f} s" if seconds < 60 else format_seconds(seconds)


def format_seconds(seconds: float | None) -> str:
    """``seconds`` as ``H:MM:SS`` (``-:--:--`` when unknown)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
