"""The group-commit writer: writes waiting together commit together, in one transaction without savepoints,
and a write that fails is rolled back alone (the group runs again, each write in a savepoint of its own)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text

from sightlog.store.sql.engine import GroupCommitWriter, make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, for_writes=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE marks (name VARCHAR(20) PRIMARY KEY)"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE marks"))  # PostgreSQL test schemas are reused
    engine.dispose()


@pytest.fixture
def statements(engine: Engine) -> list[str]:
    """Every statement the engine runs, from here on."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    return seen


def mark(name: str, fail: bool = False) -> Callable[[Connection], str]:
    """A write that inserts ``name`` (then raises, with ``fail``)."""

    def write(conn: Connection) -> str:
        conn.execute(text("INSERT INTO marks (name) VALUES (:name)"), {"name": name})
        if fail:
            raise ValueError(f"{name} refused")
        return name

    return write


def run_together(engine: Engine, writes: list[Callable[[Connection], str]]) -> list[Future[str]]:
    """Submit ``writes`` while the writer is busy, so that they wait, and then commit, as one group."""
    writer = GroupCommitWriter(engine)
    started, release = threading.Event(), threading.Event()

    def block(_conn: Connection) -> bool:
        started.set()
        return release.wait(10)

    blocker = writer.submit(block)
    assert started.wait(10)  # the writer is inside the blocker's group: the writes below queue up
    futures = [writer.submit(write) for write in writes]
    release.set()
    assert blocker.result(10)
    for future in futures:
        future.exception(10)  # settled
    writer.close()
    return futures


def marks(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT name FROM marks")).scalars())


def savepoints(statements: list[str]) -> int:
    return sum(statement.upper().startswith("SAVEPOINT") for statement in statements)


def test_writes_waiting_together_commit_in_one_transaction_without_savepoints(
    engine: Engine, statements: list[str]
) -> None:
    futures = run_together(engine, [mark(f"w{n}") for n in range(5)])
    assert [future.result() for future in futures] == [f"w{n}" for n in range(5)]
    assert marks(engine) == [f"w{n}" for n in range(5)]
    assert savepoints(statements) == 0


def test_a_failing_write_is_rolled_back_alone_and_its_neighbours_commit_once(
    engine: Engine, statements: list[str]
) -> None:
    futures = run_together(engine, [mark("a"), mark("bad", fail=True), mark("b")])
    assert futures[0].result() == "a" and futures[2].result() == "b"
    with pytest.raises(ValueError, match="bad refused"):
        futures[1].result()
    assert marks(engine) == ["a", "b"]  # "a" ran twice; the first run was rolled back
    assert savepoints(statements) == 3  # the second run: one savepoint per write


def test_a_failing_write_alone_gets_its_error_without_a_second_run(
    engine: Engine, statements: list[str]
) -> None:
    calls: list[int] = []

    def refused(conn: Connection) -> str:
        calls.append(1)
        return mark("alone", fail=True)(conn)

    writer = GroupCommitWriter(engine)
    with pytest.raises(ValueError, match="alone refused"):
        writer.run(refused)
    writer.close()
    assert (marks(engine), len(calls), savepoints(statements)) == ([], 1, 0)
