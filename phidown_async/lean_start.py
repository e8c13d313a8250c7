"""Keeps httpx's command-line client out of every start-up.

``import httpx`` imports ``httpx._main`` (its CLI: click, rich.syntax, pygments) whenever
those are installed, as they are beside this package: about 60 ms of the 140 ms httpx
takes, paid by every script and every run that never calls ``httpx.main``. `defer_httpx_cli`
puts a stand-in module under that name before httpx is first imported; it loads the real
one on first use (``httpx.main()``, or any other name looked up in it).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

_NAME = "httpx._main"


def _real_cli() -> types.ModuleType:
    """The real ``httpx._main``, imported in place of the stand-in on the first call."""
    loaded = sys.modules.get(_NAME)
    if loaded is not None and not getattr(loaded, "_phidown_stand_in", False):
        return loaded
    package = sys.modules["httpx"]
    spec = importlib.machinery.PathFinder.find_spec(_NAME, package.__path__)
    if spec is None or spec.loader is None:
        raise ImportError(f"{_NAME} not found", name=_NAME)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_NAME]
        raise
    package._main = module  # as the import system would have set it
    return module


def _main(*args: Any, **kwargs: Any) -> Any:
    """httpx's command-line entry point, loaded on the first call."""
    return _real_cli().main(*args, **kwargs)


def _getattr(name: str) -> Any:
    if name.startswith("__"):  # introspection (repr, the import system), not a use
        raise AttributeError(name)
    try:
        cli = _real_cli()
    except ImportError as exc:  # click or pygments missing: the name is not there
        raise AttributeError(name) from exc
    return getattr(cli, name)


def defer_httpx_cli() -> None:
    """Put the stand-in in place, unless httpx (or its CLI module) is already imported."""
    if "httpx" in sys.modules or _NAME in sys.modules:
        return
    stand_in = types.ModuleType(_NAME, "Stand-in for httpx's CLI; loads it on first use.")
    stand_in._phidown_stand_in = True  # type: ignore[attr-defined]
    stand_in.main = _main  # type: ignore[attr-defined]
    stand_in.__getattr__ = _getattr  # type: ignore[method-assign]
    sys.modules[_NAME] = stand_in
