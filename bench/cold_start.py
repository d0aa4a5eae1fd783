"""Cold start: process start to a ready server (`/healthz` ok) and to a first answer (`rag ask`).

    python -m bench.cold_start --repeat 2 --out docs/bench/cold_start.json

Runs the installed `rag` command next to this interpreter against a fresh index folder (built
once first, and timed as the first-run build), so it measures whatever `rag serve` and
`rag ask` load at the time. The server is stopped after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.processes import NotServing, free_port, stop, wait_until_serving
from bench.stats import machine, summarize

QUESTION = "What tier ranking did North Korea receive in the 2007 report?"


def rag_command() -> list[str]:
    return [str(Path(sys.executable).with_name("rag"))]


def get_json(url: str, body: dict | None = None, timeout: float = 300) -> dict | None:
    """The JSON reply of a GET (or POST of `body`), or None when the server does not answer yet."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


def serve_once(env: dict[str, str], limit_s: float) -> dict:
    """Seconds from spawning `rag serve` to /healthz ok, then to its first /api/ask answer."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*rag_command(), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        try:
            body = wait_until_serving(f"http://127.0.0.1:{port}/healthz", proc, limit_s, 0.05, _healthy)
        except NotServing as err:
            if err.returncode is None:
                raise RuntimeError(f"rag serve was not ready after {limit_s:.0f} s") from err
            output = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"rag serve exited with {proc.returncode}: {output[-500:]}") from err
        ready_s = time.perf_counter() - started
        health = json.loads(body)
        answer = get_json(f"http://127.0.0.1:{port}/api/ask", {"question": QUESTION})
        first_answer_s = time.perf_counter() - started if answer else None
        return {
            "ready_s": round(ready_s, 2),
            "first_api_answer_s": round(first_answer_s, 2) if first_answer_s else None,
            "generator": health.get("generator"),
        }
    finally:
        stop(proc, timeout_s=20)


def _healthy(body: bytes) -> bool:
    return json.loads(body).get("status") == "ok"


def ask_once(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*rag_command(), "ask", QUESTION, "--json"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--limit", type=float, default=600, help="seconds to wait for the server")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/cold_start.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-bench-cold-") as tmp:
        env = dict(os.environ, RAG_INDEX_DIR=str(Path(tmp) / "index"))
        started = time.perf_counter()
        subprocess.run([*rag_command(), "index"], env=env, check=True, capture_output=True)
        index_s = time.perf_counter() - started
        serves, asks = [], []
        for _ in range(args.repeat):
            serves.append(serve_once(env, args.limit))
            asks.append(ask_once(env))
            print(json.dumps({"serve": serves[-1], "ask_s": round(asks[-1], 2)}), flush=True)
    result = {
        "machine": machine(),
        "first_index_build_s": round(index_s, 2),
        "serve": serves,
        "ask_s": [round(a, 2) for a in asks],
        "ready_s_median": summarize([s["ready_s"] for s in serves]).p50,
        "ask_s_median": round(summarize(asks).p50, 2),
    }
    answered = [s["first_api_answer_s"] for s in serves if s["first_api_answer_s"]]
    result["first_api_answer_s_median"] = summarize(answered).p50 if answered else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
