"""Reports added and removed through the web app: who may, what is refused, what gets indexed and asked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bench.processes import stop
from rag.index.store import load_index
from rag.ingest.uploads import UploadRefused, check_metadata, check_upload, near_duplicate, safe_name
from tests.fakes import REPORT_PATH, REPORTS, HashEmbedder, JudgingModel, SlowEmbedder, fake_build, fake_settings
from tests.pdfs import report_pdf
from tests.servers import start_fake_server, until

MONGOLIA = REPORTS / "tip-2007-mongolia.txt"
RUSSIA = REPORTS / "tip-2007-russia.txt"


def serve(tmp_path: Path, embedder=None, **values):
    settings = fake_settings(tmp_path / "idx", corpus=(REPORT_PATH,), **values)
    application = fake_build(settings, JudgingModel("logging, mining"), embedder)
    return TestClient(application.web()), settings


@pytest.fixture
def client(tmp_path):
    client, _settings = serve(tmp_path)
    return client


def upload(client, path_or_name, data=None, metadata=None, headers=None):
    name = path_or_name if data is not None else Path(path_or_name).name
    body = data if data is not None else Path(path_or_name).read_bytes()
    form = {"metadata": json.dumps(metadata)} if metadata else None
    return client.post("/api/reports", files={"file": (name, body)}, data=form, headers=headers or {})


def finished(client, job: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        status = client.get(f"/api/reports/jobs/{job}").json()
        seen.append(status)
        if status["status"] in ("done", "failed"):
            return status | {"seen": seen}
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish: {seen[-1]}")


def listed(client) -> dict[str, dict]:
    return {r["doc_id"]: r for r in client.get("/api/reports").json()["reports"]}


def test_an_added_report_is_indexed_listed_and_asked_about_alone(client):
    reply = upload(client, MONGOLIA, metadata={"country": "Mongolia", "publisher": "U.S. Department of State"})
    assert reply.status_code == 202, reply.json()
    assert reply.json()["status"] == "queued"
    status = finished(client, reply.json()["job"])
    assert status["status"] == "done", status
    assert status["progress"] == 1.0
    doc_id = status["doc_id"]

    reports = listed(client)
    assert reports[doc_id]["status"] == "indexed" and reports[doc_id]["chunks"] > 0
    assert reports[doc_id]["metadata"]["country"] == "Mongolia"
    assert len(reports) == 2

    hits = client.post("/api/search", json={"query": "forced labor", "filters": {"doc_id": [doc_id]}}).json()["hits"]
    assert hits and {h["doc_id"] for h in hits} == {doc_id}
    both = [doc_id, next(d for d in reports if d != doc_id)]
    hits = client.post("/api/search", json={"query": "labor camps", "k": 30, "filters": {"doc_id": both}}).json()
    assert {h["doc_id"] for h in hits["hits"]} == set(both)

    answer = client.post(
        "/api/ask", json={"question": "Where are victims trafficked to?", "filters": {"doc_id": [doc_id]}}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["passages"] and all(p["doc_id"] == doc_id for p in body["passages"])
    for citation in body["citations"]:
        assert citation["doc_id"] == doc_id and "Mongolia" in citation["title"]


def test_progress_goes_through_reading_embedding_and_writing(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.index.store.EMBED_STEP", 1)  # one passage a batch: every step is seen
    client, _settings = serve(tmp_path, embedder=SlowEmbedder())
    status = finished(client, upload(client, RUSSIA).json()["job"])
    assert status["status"] == "done"
    steps = [s["step"] for s in status["seen"]]
    progress = [s["progress"] for s in status["seen"]]
    assert progress == sorted(progress), "progress never goes back"
    embedding = [step for step in steps if step.startswith("embedding passage")]
    assert len(set(embedding)) >= 2, steps
    assert any(0.1 < p < 0.9 for p in progress), progress


def test_the_same_file_or_the_same_text_in_another_format_is_refused_and_nothing_is_written(tmp_path):
    client, settings = serve(tmp_path)
    before = load_index(settings.index_dir).path

    same = upload(client, REPORT_PATH)
    assert same.status_code == 409 and "already indexed" in same.json()["error"]

    html = "<html><head><title>NK</title></head><body>" + "".join(
        f"<p>{p}</p>" for p in REPORT_PATH.read_text(encoding="utf-8").split("\n\n")
    )
    as_html = upload(client, "north-korea.html", html.encode())
    assert as_html.status_code == 409 and "same text" in as_html.json()["error"]

    as_pdf = upload(client, "north-korea.pdf", report_pdf(REPORT_PATH.read_text(encoding="utf-8")))
    assert as_pdf.status_code == 409 and "same text" in as_pdf.json()["error"]

    assert load_index(settings.index_dir).path == before
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())
    assert len(listed(client)) == 1


def test_a_report_of_the_same_series_is_not_a_near_duplicate(client):
    # Two countries' narratives of one report share their stock phrases, not their text.
    reply = upload(client, RUSSIA)
    assert reply.status_code == 202, reply.json()


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("big.txt", b"Forced labor. " * 200_000, 413, "over the limit"),
        ("tool.exe", b"MZ\x90\x00binary", 415, "reports can be"),
        ("fake.pdf", b"Just text pretending to be a PDF.", 415, "not a PDF"),
        ("blob.txt", b"\x00\x01\x02 binary", 415, "binary"),
        ("empty.txt", b"   \n", 400, "empty"),
        ("broken.pdf", b"%PDF-1.4\nnot really a pdf at all", 400, "could not be read"),
    ],
)
def test_bad_files_get_their_status_and_nothing_is_indexed(tmp_path, name, data, status, says):
    client, settings = serve(tmp_path, max_upload_bytes=1_000_000)
    before = load_index(settings.index_dir).path
    reply = upload(client, name, data)
    assert reply.status_code == status, reply.json()
    assert says in reply.json()["error"]
    assert load_index(settings.index_dir).path == before
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())


def test_a_non_loopback_server_refuses_uploads_without_a_token(tmp_path):
    client, settings = serve(tmp_path, host="0.0.0.0")
    reply = upload(client, MONGOLIA)
    assert reply.status_code == 403 and "RAG_ADMIN_TOKEN" in reply.json()["error"]
    doc_id = next(iter(listed(client)))
    assert client.delete(f"/api/reports/{doc_id}").status_code == 403
    assert not settings.uploads_dir.exists()
    assert len(listed(client)) == 1


def test_a_non_loopback_server_takes_uploads_with_the_admin_token(tmp_path):
    client, _settings = serve(tmp_path, host="0.0.0.0", admin_token="s3cret-token")
    assert upload(client, MONGOLIA, headers={"Authorization": "Bearer wrong"}).status_code == 403
    reply = upload(client, MONGOLIA, headers={"Authorization": "Bearer s3cret-token"})
    assert reply.status_code == 202
    assert finished(client, reply.json()["job"])["status"] == "done"


def test_a_page_elsewhere_cannot_post_a_report_to_a_loopback_server(client):
    reply = upload(client, MONGOLIA, headers={"Origin": "https://evil.example"})
    assert reply.status_code == 403 and "evil.example" in reply.json()["error"]
    own = upload(client, MONGOLIA, headers={"Origin": "http://testserver"})
    assert own.status_code == 202


def test_removing_a_report_rebuilds_without_it_and_deletes_its_file(tmp_path):
    client, settings = serve(tmp_path)
    doc_id = finished(client, upload(client, MONGOLIA).json()["job"])["doc_id"]
    assert any(settings.uploads_dir.iterdir())

    assert client.delete("/api/reports/no-such-report").status_code == 404
    reply = client.delete(f"/api/reports/{doc_id}")
    assert reply.status_code == 200 and reply.json() == {"removed": doc_id}
    assert doc_id not in listed(client)
    assert doc_id not in load_index(settings.index_dir).documents
    assert not any(settings.uploads_dir.iterdir())
    hits = client.post("/api/search", json={"query": "Mongolia", "k": 20}).json()["hits"]
    assert all(h["doc_id"] != doc_id for h in hits)

    last = next(iter(listed(client)))
    refused = client.delete(f"/api/reports/{last}")
    assert refused.status_code == 409 and "only report" in refused.json()["error"]


def test_a_report_from_the_corpus_folder_can_be_removed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (REPORT_PATH, RUSSIA):
        (corpus / path.name).write_bytes(path.read_bytes())
    settings = fake_settings(tmp_path / "idx", corpus=(corpus,))
    client = TestClient(fake_build(settings, JudgingModel("logging, mining")).web())
    russia = next(d for d in listed(client) if "russia" in d)
    assert client.delete(f"/api/reports/{russia}").status_code == 200
    index = load_index(settings.index_dir)
    assert russia not in index.documents and len(index.documents) == 1
    assert (corpus / RUSSIA.name).exists(), "a file of the user's own folder is left alone"


def test_an_upload_that_is_not_a_form_or_has_no_file_says_what_to_send(client):
    assert client.post("/api/reports", json={"file": "x"}).status_code == 400
    reply = client.post("/api/reports", files={"other": ("a.txt", b"text")})
    assert reply.status_code == 400 and '"file"' in reply.json()["error"]
    wrong = client.post(
        "/api/reports", files={"file": ("b.txt", b"A report about labor.")}, data={"metadata": "[1, 2]"}
    )
    assert wrong.status_code == 400 and "JSON object" in wrong.json()["error"]


def test_unknown_jobs_are_404(client):
    assert client.get("/api/reports/jobs/nope").status_code == 404


def test_upload_checks():
    assert safe_name("C:\\Users\\me\\report.pdf") == "report.pdf"
    with pytest.raises(UploadRefused):
        safe_name("..")
    with pytest.raises(UploadRefused) as err:
        check_upload("x.docx", b"data", 100)
    assert err.value.status == 415
    assert check_metadata('{"title": " T ", "year": 2007}') == {"title": "T", "year": "2007"}
    with pytest.raises(UploadRefused):
        check_metadata('{"title": {"nested": 1}}')


def test_near_duplicates_are_found_across_formats_and_not_across_reports(tmp_path):
    from rag.ingest.files import load_document

    text = REPORT_PATH.read_text(encoding="utf-8")
    pdf = tmp_path / "nk.pdf"
    pdf.write_bytes(report_pdf(text))
    original = load_document(REPORT_PATH)
    assert near_duplicate(load_document(pdf), [original]) == original
    assert near_duplicate(load_document(RUSSIA), [original, load_document(MONGOLIA)]) is None


def start_server(tmp_path: Path, hang: bool) -> tuple[subprocess.Popen, str]:
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ABSTAIN_THRESHOLD": "1.0"}
    return start_fake_server(tmp_path, "server", {**env, "RAG_CORPUS": json.dumps([str(REPORT_PATH)])}, hang=hang)


def test_a_kill_while_an_upload_is_indexed_leaves_the_previous_index_serving(tmp_path):
    from app.indexing import index_documents

    # Built here, so that the server only loads it (its embedder waits on every batch of passages).
    index_documents(fake_settings(tmp_path / "idx", corpus=(REPORT_PATH,)), HashEmbedder(), say=lambda _m: None)
    proc, url = start_server(tmp_path, hang=True)
    try:
        before = httpx.get(url + "/api/reports").json()["reports"]
        reply = httpx.post(url + "/api/reports", files={"file": (MONGOLIA.name, MONGOLIA.read_bytes())})
        assert reply.status_code == 202
        until(lambda: (tmp_path / "server-reached").exists(), "the upload reaching embedding")
        status = httpx.get(url + f"/api/reports/jobs/{reply.json()['job']}").json()
        assert status["status"] == "indexing" and 0 < status["progress"] < 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)

    proc, url = start_server(tmp_path, hang=False)
    try:
        assert httpx.get(url + "/api/reports").json()["reports"] == before
        answer = httpx.post(url + "/api/ask", json={"question": "What work are prison camp inmates forced to do?"})
        assert answer.status_code == 200 and answer.json()["citations"]
        uploads = tmp_path / "idx" / "uploads"
        assert not uploads.exists() or not any(uploads.iterdir()), "the killed upload's file is cleaned up"
        again = httpx.post(url + "/api/reports", files={"file": (MONGOLIA.name, MONGOLIA.read_bytes())})
        assert again.status_code == 202, "the same file can be added again"
    finally:
        stop(proc)
