"""Helpers shared by the end-to-end and compatibility test suites."""

from .server import ServerError, ServerProcess, free_port

__all__ = ["ServerError", "ServerProcess", "free_port"]
