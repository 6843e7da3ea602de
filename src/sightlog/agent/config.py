"""The agent's options (``sightlog agent --help``); request limits come from the server's ``Settings``."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from sightlog.config import Settings

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class AgentConfig:
    upstream: str
    api_key: str
    data_dir: Path = Path("sightlog-agent")
    device_id: str = field(default_factory=socket.gethostname)
    max_bytes: int = 10 * GIB
    max_events: int = 1_000_000
    batch_size: int = 100  # events per upstream request (the server's default batch limit)
    max_backoff: float = 30.0  # seconds between attempts while upstream is away, at most
    # Keys clients may present to the agent besides the upstream key itself.
    local_keys: frozenset[str] = frozenset()
    allow_anonymous: bool = False
    # Upload, body, batch and bundle limits, as the server reads them (SIGHTLOG_MAX_* variables), so a
    # request the agent takes is one upstream takes too.
    limits: Settings = field(default_factory=Settings)

    @property
    def accepted_keys(self) -> frozenset[str]:
        return self.local_keys | {self.api_key}
