"""A small TCP proxy whose link can be cut and restored, to simulate a database outage.

Usage::

    with TcpProxy(upstream_port=5432) as proxy:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
        ...
        proxy.cut()      # every open connection is closed; new ones are accepted and closed at once
        proxy.restore()  # new connections are forwarded again

Threads only (one accept loop, two pumps per connection), so it runs next to any test code.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

__all__ = ["TcpProxy"]

_BUFFER = 65536


def _close(sock: socket.socket) -> None:
    # shutdown() first: it wakes a thread blocked in recv() on this socket, close() alone may not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``upstream_host:upstream_port`` until :meth:`cut`."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port: int | None = None
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._stopping = False
        self._accept_thread: threading.Thread | None = None
        self.accepted = 0  # connections forwarded
        self.rejected = 0  # connections closed on arrival because the link was cut
        self.severed = 0  # open connections closed by cut()

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))  # the kernel picks a free port: no race with other tests
        listener.listen(256)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        self._sever_all()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the switch ---------------------------------------------------------------------------------------

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> int:
        """Close every open connection (both sides) and drop new ones on arrival; returns how many closed."""
        with self._lock:
            self._cut = True
        return self._sever_all()

    def restore(self) -> None:
        """Forward new connections again (the ones closed by :meth:`cut` stay closed)."""
        with self._lock:
            self._cut = False

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open) // 2

    # -- internals ----------------------------------------------------------------------------------------

    def _sever_all(self) -> int:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)
        self.severed += len(sockets) // 2
        return len(sockets) // 2

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            if self._cut:
                self.rejected += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._cut:  # cut() ran while we were connecting upstream
                    self.rejected += 1
                    _close(client)
                    _close(upstream)
                    continue
                self._open.update((client, upstream))
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), name="tcp-proxy-pump", daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(_BUFFER)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # One side ended: end the whole connection, as a broken link would.
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _close(src)
            _close(dst)
