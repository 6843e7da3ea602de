"""Wiring: one agent's outbox, services, forwarder and counters, opened from its config."""

from __future__ import annotations

import fcntl
import os
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self

from sightlog.agent import report
from sightlog.agent.config import AgentConfig
from sightlog.agent.forwarder import Forwarder, Upstream
from sightlog.agent.outbox import Outbox, Quota
from sightlog.agent.services import AgentAuth, AgentServices
from sightlog.errors import Conflict
from sightlog.store.blobs import LocalBlobStore

DEFAULT_WORKSPACE = "default"  # what the agent answers for its key before upstream has named the workspace


class Runtime:
    """An open agent: its outbox, the services its routes use, and the forwarder, which runs from
    construction until :meth:`close`. Use it as a context manager."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._closed = False
        config.data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as undo:  # on a failure half-way, release what was taken
            lock_fd = _lock(config)
            undo.callback(os.close, lock_fd)
            self.blobs = LocalBlobStore(config.data_dir / "images")
            self.outbox = Outbox(
                config.data_dir / "outbox.db", self.blobs, Quota(config.max_events, config.max_bytes)
            )
            undo.callback(self.outbox.close)
            self.outbox.sweep()
            self.stats = report.Stats()
            auth = AgentAuth(
                config.accepted_keys,
                config.allow_anonymous,
                lambda: self.outbox.meta("workspace") or DEFAULT_WORKSPACE,
            )
            self.services = AgentServices.over(self.outbox, self.blobs, config.limits, auth)
            self.upstream = Upstream(config.upstream, config.api_key)
            undo.callback(self.upstream.close)
            self.forwarder = Forwarder(
                self.outbox,
                self.blobs,
                self.upstream,
                self.stats,
                device_id=config.device_id,
                batch_size=config.batch_size,
                max_backoff=config.max_backoff,
            )
            self.forwarder.start()
            self._release = undo.pop_all()

    def health(self) -> dict[str, Any]:
        return report.health(self.config, self.outbox.figures(), self.stats)

    def close(self) -> None:
        """Stop forwarding and release the outbox; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.forwarder.stop()
        self._release.close()  # the upstream client, the outbox, then the lock: the reverse of taking them

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _lock(config: AgentConfig) -> int:
    """Hold ``agent.lock`` in the data directory: two agents on one outbox would both forward it. The
    kernel releases the lock when the process dies, however it dies."""
    fd = os.open(config.data_dir / "agent.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Conflict(f"Another agent is running on {config.data_dir} (it holds agent.lock).") from None
    return fd


__all__ = ["Runtime"]
