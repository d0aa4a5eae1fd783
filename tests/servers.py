"""`rag serve` in a child process with the fake models, for tests that need a real server: several of
them on one store, or one killed mid-upload.

With `hang`, embedding an added report's passages writes the `reached` marker file and waits there, so
that a test can kill the server mid-indexing. The judge calls a sentence an answer when it holds one of
`fragments`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from bench.processes import NotServing, free_port, wait_until_serving

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

SCRIPT = r"""
import faulthandler, json, os, signal, sys, time
from pathlib import Path

import app.generators
import app.indexing
from app import cli
from tests.fakes import HashEmbedder, JudgingModel

hang, marker, port, fragments = sys.argv[1] == "hang", Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
faulthandler.register(signal.SIGUSR1)  # a stuck server's threads, on request


class Embedder(HashEmbedder):
    def embed(self, texts):
        if hang and len(texts) > 1:
            marker.write_text(str(os.getpid()))
            time.sleep(300)
        return super().embed(texts)


app.indexing.make_embedder = lambda settings: Embedder()
app.generators.make_generator = lambda settings, say=print: JudgingModel(tuple(fragments))
sys.exit(cli.main(["serve", "--port", port]))
"""


def start_fake_server(
    folder: Path,
    name: str,
    env: Mapping[str, str],
    fragments: Sequence[str] = ("logging, mining",),
    hang: bool = False,
) -> tuple[subprocess.Popen, str]:
    """A started server (its process and base URL); its stderr goes to `folder/name.log`.

    With `hang`, the marker is `folder/name-reached`. `env` is added to this process's environment.
    """
    port = free_port()
    log = folder / f"{name}.log"  # a file, not a pipe: nobody reads a pipe while the test runs, and a full one blocks
    argv = ["hang" if hang else "serve", str(folder / f"{name}-reached"), str(port), json.dumps(list(fragments))]
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url + "/healthz", proc, limit_s=120, every_s=0.2)
    except NotServing as err:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the server did not start: {err}: {log.read_text()[-3000:]}") from err
    return proc, url


def until(condition: Callable[[], T], what: str, limit_s: float = 60.0) -> T:
    """The first true value `condition` returns, polling; AssertionError naming `what` after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {limit_s} s")
