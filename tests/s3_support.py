"""A real S3-protocol server on loopback for the object-store tests: moto's standalone server
(``moto_server``) started as a subprocess of this venv's Python, one bucket created with boto3,
stopped by its pid. Never an in-process mock: every request crosses a socket as with AWS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# not credentials: moto accepts any; distinctive so a test can check they are never printed
TEST_KEY_ID = "AKIASLEEVETESTKEY000"
TEST_SECRET = "sleeve-test-secret-do-not-print"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    pid: int

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=TEST_KEY_ID,
            aws_secret_access_key=TEST_SECRET,
            region_name="us-east-1",
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(bucket: str = "sleeve-test") -> Iterator[S3Server]:
    """Start ``moto_server -H 127.0.0.1 -p PORT``, wait until it answers, create ``bucket``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | S3_ENV,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {endpoint}") from None
                time.sleep(0.2)
        server = S3Server(endpoint, bucket, proc.pid)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
