"""The types users annotate with are exported, and the package says it is typed."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

import phidown_async
from phidown_async import events
from phidown_async.catalogue import search
from phidown_async.download import results


def _subclasses(kind: type) -> list[type]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


EVENT_CLASSES = _subclasses(events.Event)


def test_there_are_events_to_check():
    assert len(EVENT_CLASSES) >= 10


@pytest.mark.parametrize("kind", EVENT_CLASSES, ids=lambda kind: kind.__name__)
def test_every_event_class_is_exported(kind: type):
    assert kind.__name__ in phidown_async.__all__
    assert getattr(phidown_async, kind.__name__) is kind


@pytest.mark.parametrize(
    "name, module",
    [
        ("Event", events),
        ("EventLog", events),
        ("EventSink", events),
        ("ItemResult", results),
        ("RunSummary", results),
        ("Page", search),
        ("FailedPage", search),
        ("Search", search),
    ],
)
def test_result_and_page_types_are_exported(name: str, module):
    assert name in phidown_async.__all__
    assert getattr(phidown_async, name) is getattr(module, name)


def test_py_typed_is_in_the_package_and_its_data():
    assert resources.files("phidown_async").joinpath("py.typed").is_file()
    pyproject = Path(phidown_async.__file__).parents[1] / "pyproject.toml"
    data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["phidown_async"]
