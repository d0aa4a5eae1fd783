"""Servers in child processes, for the benchmarks and the tests: a free port, waiting until one answers, stopping it."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable


class NotServing(RuntimeError):
    """The server process ended (`returncode` says how) or did not answer in time (`returncode` is None)."""

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


def free_port() -> int:
    """A local TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(
    url: str,
    process: subprocess.Popen,
    limit_s: float = 120,
    every_s: float = 0.5,
    ready: Callable[[bytes], bool] = lambda _body: True,
) -> bytes:
    """The body of the first successful GET of `url` that is `ready`, asked every `every_s` seconds.

    NotServing if the process ends first or `limit_s` seconds pass.
    """
    deadline = time.monotonic() + limit_s
    while True:
        if process.poll() is not None:
            raise NotServing(f"the server exited with {process.returncode}", process.returncode)
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                body = reply.read()
            if ready(body):
                return body
        except (OSError, http.client.HTTPException, ValueError):  # not listening yet, an error, a body not JSON yet
            pass
        if time.monotonic() > deadline:
            raise NotServing(f"the server did not answer within {limit_s:g} s")
        time.sleep(every_s)


def stop(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """Ask the process to end, and kill it if it has not within `timeout_s` seconds; its pipes are drained."""
    process.terminate()
    try:
        process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
