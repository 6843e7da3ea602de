"""``docs/sdk.md`` cannot drift: its Python examples run, in order, against a real server, and its
reference table names every public method of the client."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from sightlog.sdk.client import Client, Events, Images, UseCases
from tests.support.server import ServerProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_examples_run(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLOG_SERVER", server.url)
    monkeypatch.setenv("SIGHTLOG_API_KEY", server.api_key)
    blocks = _blocks()
    assert len(blocks) >= 15, "the examples were not found"
    namespace: dict[str, object] = {"__name__": "docs_sdk"}
    for line, source in blocks:
        # Compiled with the doc's name and line numbers, so a traceback points into docs/sdk.md.
        code = compile("\n" * (line - 1) + source, str(DOC), "exec")
        exec(code, namespace)


@pytest.mark.parametrize(("group", "cls"), [("use_cases", UseCases), ("events", Events), ("images", Images)])
def test_the_reference_names_every_method(group: str, cls: type) -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, _ in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_"):
            assert re.search(rf"client\.{group}\.{name}\(|`{name}\(", text), (
                f"{group}.{name} is not documented"
            )
    for name in ("health", "workspace"):
        assert f"client.{name}()" in text and hasattr(Client, name)
