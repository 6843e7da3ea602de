"""Sightlog: a self-hostable datastore for vision events.

``from sightlog import Client, AsyncClient, Sink`` gives the Python SDK (:mod:`sightlog.sdk`). They are
loaded on first use, so that running the server never imports the SDK and vice versa.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sightlog.sdk import AsyncClient, Client, Sink

_SDK_NAMES = frozenset({"Client", "AsyncClient", "Sink"})
__all__ = ["AsyncClient", "Client", "Sink", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        value = getattr(importlib.import_module("sightlog.sdk"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'sightlog' has no attribute {name!r}")
