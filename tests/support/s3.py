"""Run a real S3-compatible server (moto) for tests.

In-thread, for unit and contract tests (fast; shares this process)::

    with S3Server() as s3:
        bucket = s3.create_bucket()
        monkeypatch.setenv(...) for each item of s3.env(bucket)   # credentials, region, endpoint
        store = S3BlobStore.from_url(s3.blob_url(bucket), tmp_path / "tmp")

As a separate process, for end-to-end tests that start ``sightlog serve`` children (which must reach it
over the network) or that measure this process's memory::

    with S3Server(process=True) as s3:
        bucket = s3.create_bucket()
        ServerProcess(data_dir, env=s3.env(bucket)) ...

Every moto server in one process shares moto's in-memory backends, so buckets are uniquely named rather than
relying on a fresh server per test. ``env()`` also sets ``SIGHTLOG_BLOB_URL`` (the setting the server is
expected to read to pick the S3 blob store).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.processes import LIVE
from tests.support.server import free_port

__all__ = ["S3_REGION", "S3Server", "S3ServerError"]

S3_REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_PORT_RETRIES = 3


class S3ServerError(RuntimeError):
    """The moto server failed to start; the message carries its log."""


class S3Server:
    """A moto S3 server on 127.0.0.1 and a free port: a thread of this process, or a child process."""

    def __init__(self, *, process: bool = False, host: str = "127.0.0.1") -> None:
        self.process = process
        self.host = host
        self.port: int | None = None
        self.region = S3_REGION
        self._thread_server: Any = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._client: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self.port is not None:
            return self
        if self.process:
            self._start_process()
        else:
            self._start_thread()
        return self

    def stop(self) -> None:
        if self._thread_server is not None:
            server, self._thread_server = self._thread_server, None
            server.stop()
            # ThreadedMotoServer.stop() ends serve_forever() but leaves the socket listening.
            inner = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=STOP_TIMEOUT)
            LIVE.discard(proc)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        self.port = None
        self._client = None

    def kill(self) -> None:
        """SIGKILL the server process (process mode): the store vanishes mid-whatever, like a crash."""
        if self._proc is None:
            raise RuntimeError("kill() needs S3Server(process=True) started.")
        self._proc.kill()
        self._proc.wait(timeout=STOP_TIMEOUT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint URL, e.g. ``http://127.0.0.1:41234``."""
        if self.port is None:
            raise RuntimeError("S3Server is not running; call start() first.")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- buckets and settings -----------------------------------------------------------------------------

    def client(self) -> Any:
        """A boto3 S3 client for this server (for setup and assertions); made once, it is thread-safe."""
        if self._client is not None:
            return self._client
        import boto3  # imported here: importing this module stays cheap where boto3 is absent
        from botocore.config import Config

        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )
        return self._client

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a unique ``sightlog-test-...`` one unless named) and return its name."""
        bucket = name or f"sightlog-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def blob_url(self, bucket: str, prefix: str = "") -> str:
        prefix = prefix.strip("/")
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def store_kwargs(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """Keyword arguments for ``S3BlobStore.from_url`` (credentials still come from :meth:`env`)."""
        return {"url": self.blob_url(bucket, prefix), "endpoint_url": self.url, "region": self.region}

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """Environment for a process (or ``monkeypatch.setenv``) that should use ``bucket`` on this server.

        Points boto3 away from any developer or CI AWS configuration: dummy credentials, no config files,
        no instance-metadata lookups, and the loopback address exempt from proxies.
        """
        no_proxy = ",".join(
            filter(None, [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "127.0.0.1,localhost"])
        )
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "SIGHTLOG_BLOB_URL": self.blob_url(bucket, prefix),
        }

    # -- internals ----------------------------------------------------------------------------------------

    def _start_thread(self) -> None:
        from moto.server import ThreadedMotoServer  # heavy import, only when used

        # Port 0: the kernel picks a free port at bind time, so there is no race with other tests.
        # werkzeug logs every request to stderr, which buries a failing test's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        server.start()
        self._thread_server = server
        self.port = server.get_host_and_port()[1]

    def _start_process(self) -> None:
        fd, log_name = tempfile.mkstemp(prefix="sightlog-moto-", suffix=".log")
        os.close(fd)
        self._log_path = Path(log_name)
        last_error = ""
        # A free port can be taken between finding it and the child binding it; then try another.
        for _ in range(_PORT_RETRIES):
            port = free_port(self.host)
            with open(self._log_path, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal goes to pytest, which stops it
                )
            LIVE.add(proc)
            if self._wait_ready(proc, port):
                self._proc = proc
                self.port = port
                return
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
            LIVE.discard(proc)
            last_error = self._log_path.read_text(errors="replace")[-4000:]
        self._log_path.unlink(missing_ok=True)
        self._log_path = None
        raise S3ServerError(f"moto server did not start:\n{last_error}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = f"http://{self.host}:{port}/moto-api/"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                with opener.open(url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False
