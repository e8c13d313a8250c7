"""The command line's logging: ``-q``, ``-v``, ``--log-level`` and ``--log-file``.

The root options set one handler on the ``phidown_async`` logger: stderr by default, the
file of ``--log-file`` when given. Default level WARNING; ``-v`` INFO, ``-vv`` DEBUG; ``-q``
ERROR and no progress display. When records at INFO or below are wanted (or go to a file),
download runs also log their events through `LoggingSink`.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

LOGGER = "phidown_async"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class Verbosity:
    """What the root options asked for."""

    level: int = logging.WARNING
    quiet: bool = False
    to_file: bool = False

    @property
    def log_events(self) -> bool:
        """True when download events should become log records too."""
        return self.to_file or self.level <= logging.INFO


DEFAULT = Verbosity()
current: contextvars.ContextVar[Verbosity] = contextvars.ContextVar(
    "phidown_async_cli_verbosity",
    default=DEFAULT,
)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a live display redirects it)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def chosen_level(quiet: bool, verbose: int, level: str | None) -> int:
    """The logging level of the options (``--log-level`` wins over ``-q``/``-v``).

    Raises:
        typer.BadParameter: an unknown level name.
    """
    if level is not None:
        name = level.strip().upper()
        if name not in LEVELS:
            raise typer.BadParameter(
                f"{level!r} is not one of {', '.join(LEVELS)}", param_hint="--log-level"
            )
        return int(getattr(logging, name))
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def release() -> None:
    """Remove (and close) the handler `configure` set, when the command is over."""
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if getattr(h, "phidown_cli", False)]:
        logger.removeHandler(old)
        old.close()
    logger.setLevel(logging.NOTSET)


def configure(quiet: bool, verbose: int, level: str | None, file: Path | None) -> Verbosity:
    """Point the ``phidown_async`` logger at stderr or ``file`` at the chosen level.

    Calling it again replaces the handler it set before.

    Raises:
        typer.BadParameter: an unknown level, or a log file that cannot be opened.
    """
    if quiet and verbose:
        raise typer.BadParameter("give -q or -v, not both", param_hint="-q/--quiet")
    chosen = chosen_level(quiet, verbose, level)
    release()
    handler: logging.Handler
    if file is not None:
        try:
            handler = logging.FileHandler(file, encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot write {file}: {exc.strerror or exc}", param_hint="--log-file"
            ) from None
    else:
        handler = _Stderr()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.phidown_cli = True  # type: ignore[attr-defined]
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    logger.setLevel(chosen)
    verbosity = Verbosity(level=chosen, quiet=quiet, to_file=file is not None)
    current.set(verbosity)
    return verbosity
