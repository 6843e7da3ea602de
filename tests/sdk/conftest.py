"""Fixtures of the SDK suite: one real ``sightlog serve`` process per module, and a client bound to it."""

from tests.support.sdk_fixtures import client, server, use_case

__all__ = ["client", "server", "use_case"]
