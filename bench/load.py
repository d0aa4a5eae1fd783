"""Load test: many chat users at once against a local `rag serve`, over HTTP and gradio_client.

    python -m bench.load [--clients 16] [--duration 180] [--fake] [--out docs/load.md]

Starts the server in its own process (the real models by default; `--fake` swaps the model for a
generator that quotes its first source after `--fake-seconds`), then runs N clients for a bounded
time: half post to `/api/ask`, half call the gradio `ask` endpoint, each from its own session and
with its own questions, one after another. A busy reply is counted, and the client waits the
Retry-After it was given before asking again. Every answer is checked against its own question: the
`question` field, the passages (the ones `/api/search` lists for that question) and the citations
(drawn from those passages); a mismatch counts as cross-talk. A probe meanwhile times `/healthz` and
`/api/search` once a second. Prints a Markdown report; exits 1 on any error or cross-talk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import processes
from bench.processes import NotServing, free_port, wait_until_serving
from bench.stats import machine, percentile
from eval.summary import markdown_table
from tests.fakes import QuotingGenerator

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "data" / "report_qa.jsonl"


@dataclass
class Tally:
    """What one kind of client saw."""

    latencies: list[float] = field(default_factory=list)  # answered, seconds
    busy_latencies: list[float] = field(default_factory=list)
    busy: int = 0
    busy_after_timeout: int = 0  # of `busy`: told so only after waiting the whole queue timeout
    errors: list[str] = field(default_factory=list)
    timeouts: int = 0
    crosstalk: list[str] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return len(self.latencies)


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nan when there are no values.

    >>> pct([1.0, 2.0, 3.0, 4.0], 50), pct([], 50)
    (2.5, nan)
    """
    return percentile(values, q) if values else float("nan")


def crosstalk(body: dict, question: str, expected_passages: list[str]) -> str | None:
    """Why an answer does not belong to `question`, or None when it does."""
    if body.get("question") != question:
        return f"asked {question!r}, got the answer to {body.get('question')!r}"
    passages = [p["chunk_id"] for p in body.get("passages", [])]
    if passages != expected_passages:
        return f"passages for {question!r} differ from the ones retrieval lists for it"
    stray = {c["chunk_id"] for c in body.get("citations", [])} - set(passages)
    if stray:
        return f"citations for {question!r} point outside its own passages"
    return None


# ---- the fake server (--fake) ----------------------------------------------------------------


def serve_fake(port: int, seconds: float) -> None:
    """`rag serve` with the real index and embedder and the quoting generator in place of the model."""
    import uvicorn

    from app.build import build
    from rag.settings import ServerSettings, Settings

    settings = Settings(server=ServerSettings(port=port))
    application = build(settings, say=lambda m: print(m, file=sys.stderr), generator=QuotingGenerator(seconds))
    uvicorn.run(application.web(), host=settings.server.host, port=port, log_level="warning")


# ---- the run -----------------------------------------------------------------------------------


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    env = dict(os.environ, RAG_PORT=str(port), RAG_HOST="127.0.0.1")
    # Every client here shares one address; the per-address limit would refuse them, so it is off.
    env["RAG_RATE_LIMIT"] = ""
    if args.max_queue is not None:
        env["RAG_MAX_QUEUE"] = str(args.max_queue)
    if args.queue_timeout is not None:
        env["RAG_QUEUE_TIMEOUT_S"] = str(args.queue_timeout)
    if args.fake:
        command = [
            sys.executable,
            "-m",
            "bench.load",
            "--serve-fake",
            str(port),
            "--fake-seconds",
            str(args.fake_seconds),
        ]
    else:
        command = [str(Path(sys.executable).parent / "rag"), "serve", "--port", str(port)]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_healthy(url: str, server: subprocess.Popen, limit_s: float = 600) -> dict:
    """The server's /healthz reply once it answers; SystemExit if it ends or does not answer in time."""
    try:
        return json.loads(wait_until_serving(f"{url}/healthz", server, limit_s))
    except NotServing as err:
        if err.returncode is None:
            raise SystemExit(f"the server was not ready within {limit_s:g} s") from err
        raise SystemExit(f"the server exited with code {err.returncode} before it was ready") from err


def client_questions(questions: list[str], clients: int) -> list[list[str]]:
    """Client i asks questions i, i + clients, i + 2 * clients, ...: no two clients share one.

    >>> client_questions(["a", "b", "c", "d", "e"], 2)
    [['a', 'c', 'e'], ['b', 'd']]
    """
    return [questions[i::clients] for i in range(clients)]


def run_client(
    kind: str,
    url: str,
    mine: list[str],
    expected: dict[str, list[str]],
    stop_at: float,
    patience_s: float,
    tally: Tally,
) -> None:
    """Ask `mine` in turn until `stop_at`, recording each outcome in `tally`."""
    gradio = None
    if kind == "gradio":
        from gradio_client import Client

        gradio = Client(url, verbose=False)
    n = 0
    with httpx.Client(timeout=patience_s) as http:
        while time.monotonic() < stop_at:
            question = mine[n % len(mine)]
            n += 1
            started = time.monotonic()
            retry_after = 0.0
            busy_message = ""
            try:
                if gradio is None:
                    response = http.post(f"{url}/api/ask", json={"question": question})
                    if response.status_code == 503:
                        retry_after = float(response.headers.get("retry-after", "1"))
                        busy_message = response.json()["error"]
                        body = None
                    elif response.status_code != 200:
                        tally.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                        continue
                    else:
                        body = response.json()
                else:
                    body, retry_after, busy_message = _gradio_ask(gradio, question, patience_s)
            except (httpx.TimeoutException, TimeoutError):
                tally.timeouts += 1
                continue
            except Exception as err:  # every other failure is an error to report, not a crash
                tally.errors.append(f"{type(err).__name__}: {str(err)[:200]}")
                continue
            took = time.monotonic() - started
            if body is None:
                tally.busy += 1
                tally.busy_after_timeout += "without its turn coming" in busy_message
                tally.busy_latencies.append(took)
                time.sleep(max(0.0, min(retry_after, stop_at - time.monotonic())))
                continue
            problem = crosstalk(body, question, expected[question])
            if problem:
                tally.crosstalk.append(problem)
            else:
                tally.latencies.append(took)


def _gradio_ask(client, question: str, patience_s: float) -> tuple[dict | None, float, str]:
    """(the answer JSON, 0, "") through gradio_client, or (None, seconds to wait, message) when busy."""
    from gradio_client.exceptions import AppError

    job = client.submit(question=question, history=[], filters=None, api_name="/ask")
    try:
        return job.result(timeout=patience_s), 0.0, ""
    except AppError as err:
        if "busy" not in str(err):
            raise
        wait = re.search(r"retry in about (\d+) s", str(err))
        return None, float(wait.group(1)) if wait else 1.0, str(err)


def probe(url: str, stop: threading.Event, health: list[float], search: list[float], errors: list[str]) -> None:
    """Time /healthz and /api/search once a second while the clients run."""
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            for route, timings in (("healthz", health), ("search", search)):
                started = time.monotonic()
                try:
                    if route == "healthz":
                        response = http.get(f"{url}/healthz")
                    else:
                        response = http.post(f"{url}/api/search", json={"query": "forced labor in prison camps"})
                    if response.status_code == 200:
                        timings.append(time.monotonic() - started)
                    else:
                        errors.append(f"{route}: HTTP {response.status_code}")
                except httpx.HTTPError as err:
                    errors.append(f"{route}: {type(err).__name__}")
            stop.wait(1.0)


def report(
    args, health_info: dict, tallies: dict[str, Tally], wall_s: float, probes: dict[str, list[float]], probe_errors
) -> str:
    """The Markdown report of one run."""
    mode = f"fake generator ({args.fake_seconds:g} s an answer)" if args.fake else "the real model"
    queue = health_info.get("queue", {})
    box = machine()
    lines = [
        f"- machine: {box['cpu']}, {box['cores']} cores, {box['ram_gib']} GiB, Python {box['python']}; "
        f"load average at the end {box['load_avg']}",
        f"- server: `rag serve` with {mode} ({health_info.get('generator')})",
        f"- server queue: {queue.get('max_waiting')} may wait, {queue.get('timeout_s')} s each; rate limit off",
        f"- {args.clients} clients ({args.clients - args.clients // 2} HTTP `/api/ask`, {args.clients // 2} gradio "
        f"`ask`) for {args.duration:g} s; wall time {wall_s:.1f} s (in-flight answers finish after the stop)",
        "",
    ]
    rows: list[list[object]] = []
    total = Tally()
    for kind, t in [*tallies.items(), ("all", total)]:
        if kind != "all":
            total.latencies += t.latencies
            total.busy_latencies += t.busy_latencies
            total.busy += t.busy
            total.busy_after_timeout += t.busy_after_timeout
            total.errors += t.errors
            total.timeouts += t.timeouts
            total.crosstalk += t.crosstalk
        rows.append(
            [
                kind,
                t.answered,
                f"{t.answered / wall_s:.2f}",
                f"{pct(t.latencies, 50):.1f}",
                f"{pct(t.latencies, 95):.1f}",
                f"{max(t.latencies, default=float('nan')):.1f}",
                f"{t.busy} ({t.busy_after_timeout})",
                f"{pct(t.busy_latencies, 50):.1f}",
                len(t.errors),
                t.timeouts,
                len(t.crosstalk),
            ]
        )
    header = ["clients", "answered", "answers/s", "p50 s", "p95 s", "max s", "busy (after timeout)", "busy p50 s"]
    lines += [markdown_table([*header, "errors", "timeouts", "cross-talk"], rows), ""]
    for route, timings in probes.items():
        lines.append(
            f"- `{route}` during the run: {len(timings)} probes, p50 {pct(timings, 50) * 1000:.0f} ms, "
            f"p95 {pct(timings, 95) * 1000:.0f} ms, max {max(timings, default=0) * 1000:.0f} ms"
        )
    for problem in (total.errors + total.crosstalk + list(probe_errors))[:10]:
        lines.append(f"- problem: {problem}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds during which clients send questions")
    parser.add_argument("--fake", action="store_true", help="a quoting generator instead of the model (quick check)")
    parser.add_argument("--fake-seconds", type=float, default=0.5, help="time the fake generator takes per answer")
    parser.add_argument("--max-queue", type=int, help="RAG_MAX_QUEUE for the server (default: its setting)")
    parser.add_argument("--queue-timeout", type=float, help="RAG_QUEUE_TIMEOUT_S for the server")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--serve-fake", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(args.serve_fake, args.fake_seconds)
        return 0
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients must be at least 1 and --duration above 0")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args, port)
    try:
        info = wait_healthy(url, server)
        # A client waits at most the queue timeout plus a few answers before calling it a timeout.
        patience_s = float(info["queue"]["timeout_s"]) + 60
        questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
        questions = list(dict.fromkeys(questions))
        expected = {}
        for q in questions:
            hits = httpx.post(f"{url}/api/search", json={"query": q}, timeout=60).json()["hits"]
            expected[q] = [h["chunk_id"] for h in hits]
        per_client = client_questions(questions, args.clients)
        tallies = {"http": Tally(), "gradio": Tally()}
        stop = threading.Event()
        probes: dict[str, list[float]] = {"/healthz": [], "/api/search": []}
        probe_errors: list[str] = []
        prober = threading.Thread(
            target=probe, args=(url, stop, probes["/healthz"], probes["/api/search"], probe_errors), daemon=True
        )
        started = time.monotonic()
        stop_at = started + args.duration
        threads = []
        for i, mine in enumerate(per_client):
            kind = "gradio" if i % 2 else "http"
            threads.append(
                threading.Thread(
                    target=run_client, args=(kind, url, mine, expected, stop_at, patience_s, tallies[kind]), daemon=True
                )
            )
        prober.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        stop.set()
        prober.join(30)
    finally:
        processes.stop(server)
    text = report(args, info, tallies, wall, probes, probe_errors)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    failed = any(t.errors or t.crosstalk for t in tallies.values()) or probe_errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
