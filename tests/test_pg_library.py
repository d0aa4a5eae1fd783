"""The product on the shared store in process: builds, the embedder check, two web apps on one database."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from app.indexing import index_documents, load_shared, open_index
from rag.index.postgres import EmbedderMismatch, current_build_id
from rag.index.store import IndexMissing
from tests.fakes import REPORT_PATH, REPORTS, HashEmbedder, JudgingModel, fake_build, fake_settings
from tests.servers import until

pytestmark = pytest.mark.postgres

MONGOLIA = REPORTS / "tip-2007-mongolia.txt"
RUSSIA = REPORTS / "tip-2007-russia.txt"
QUIET = lambda _m: None  # noqa: E731


def shared_settings(tmp_path, pg_url, name="a", **values):
    values = {"corpus": (REPORT_PATH,), "database_url": pg_url, "rate_limit": "", **values}
    return fake_settings(tmp_path / name, **values)


def test_index_builds_adds_and_refuses_another_embedder(tmp_path, pg_url):
    settings = shared_settings(tmp_path, pg_url)
    with pytest.raises(IndexMissing):
        load_shared(settings, None)
    first = open_index(settings, HashEmbedder(), QUIET)  # an empty store is built from the corpus
    assert len(first.documents) == 1
    report = index_documents(settings, HashEmbedder(), [MONGOLIA], say=QUIET)
    assert len(report.index.documents) == 2 and report.reused == len(first.chunks)
    assert not (tmp_path / "a" / "current").exists(), "nothing is written beside the index folder"
    # Another machine: no file of the corpus on its disk, yet the store's reports stay in its builds.
    elsewhere = shared_settings(tmp_path, pg_url, "b", corpus=(tmp_path / "nothing-here",))
    again = index_documents(elsewhere, HashEmbedder(), [RUSSIA], say=QUIET)
    assert set(again.index.documents) > set(report.index.documents) and len(again.index.documents) == 3
    assert again.embedded < len(again.index.chunks)
    assert current_build_id(pg_url) == 3

    other = HashEmbedder(name="other-model")
    with pytest.raises(EmbedderMismatch, match="was built with fake-hash"):
        open_index(settings, other, QUIET)
    with pytest.raises(EmbedderMismatch, match="rag index --rebuild"):
        index_documents(settings, other, [MONGOLIA], say=QUIET)
    assert current_build_id(pg_url) == 3, "a store made with another embedder is never rebuilt silently"
    rebuilt = index_documents(elsewhere, other, reembed=True, say=QUIET)
    assert rebuilt.index.embedder_name == "other-model" and len(rebuilt.index.documents) == 3


class GatedEmbedder(HashEmbedder):
    """The hashed embedder, whose batches of an added report's passages wait until `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def embed(self, texts):
        if len(texts) > 1:
            assert self.gate.wait(60), "the test never opened the gate"
        return super().embed(texts)


def test_two_web_apps_share_reports_jobs_and_feedback(tmp_path, pg_url):
    embedder = GatedEmbedder()
    embedder.gate.set()  # open for the store's first build
    one_app = fake_build(shared_settings(tmp_path, pg_url, "a"), JudgingModel("logging, mining"), embedder)
    one = TestClient(one_app.web())
    two = TestClient(fake_build(shared_settings(tmp_path, pg_url, "b"), JudgingModel("logging, mining")).web())
    embedder.gate.clear()
    reply = one.post("/api/reports", files={"file": (MONGOLIA.name, MONGOLIA.read_bytes())})
    assert reply.status_code == 202, reply.json()
    job = reply.json()["job"]

    def adding_on_two():
        return [r for r in two.get("/api/reports").json()["reports"] if r.get("job") == job]

    # While the first server indexes it, the second lists the report being added, with its job.
    [adding] = until(adding_on_two, "the second server listing the report being added")
    assert adding["status"] in ("queued", "indexing") and adding["chunks"] == 0 and adding["title"]
    again = two.post("/api/reports", files={"file": (MONGOLIA.name, MONGOLIA.read_bytes())})
    assert again.status_code == 409 and "another server" in again.json()["error"], again.json()
    embedder.gate.set()
    done = until(lambda: (s := two.get(f"/api/reports/jobs/{job}").json())["status"] == "done" and s, "the job")
    doc_id = done["doc_id"]
    assert doc_id == adding["doc_id"]

    def listed():
        found = two.get("/api/reports").json()["reports"]
        return found if doc_id in {r["doc_id"] for r in found} else None

    reports = until(listed, "the second server listing the added report")
    assert [r["status"] for r in reports if r["doc_id"] == doc_id] == ["indexed"]
    assert not adding_on_two()
    hits = two.post("/api/search", json={"query": "forced labor", "filters": {"doc_id": [doc_id]}}).json()["hits"]
    assert hits and {h["doc_id"] for h in hits} == {doc_id}
    assert two.get("/api/reports/jobs/nope").status_code == 404


def test_an_unreachable_database_gets_503_with_an_error_and_the_rest_keeps_serving(tmp_path, pg_url):
    from dataclasses import replace

    from app.build import pipeline_over
    from rag.index.postgres import PgDenseIndex
    from rag.pg import Pool
    from rag.settings import RetrievalMode
    from ui.api import STORE_DOWN
    from ui.chat import ChatHandlers

    application = fake_build(shared_settings(tmp_path, pg_url), JudgingModel("logging, mining"))
    service = application.service()
    client = TestClient(application.web(service))
    index = service.pipeline.retriever.index
    dense = index.dense
    assert isinstance(dense, PgDenseIndex)
    # The same build, searched through a database address where nothing listens.
    nowhere = Pool(f"postgresql://rag:secret@/library?host={tmp_path}&port=1")
    down = replace(index, dense=PgDenseIndex(nowhere, dense.build_id, dense.dim, dense.size, dense.kind))
    service.use(pipeline_over(service.pipeline, down))

    asked = {"question": "What work are inmates forced to do?"}
    for path, body in (("/api/ask", asked), ("/api/search", {"query": "x"})):
        reply = client.post(path, json=body)
        assert reply.status_code == 503 and reply.json() == {"error": STORE_DOWN}, reply.text
        assert "secret" not in reply.text
    assert client.get("/api/reports").status_code == 200 and client.get("/healthz").status_code == 200
    assert "unreachable" in ChatHandlers(service, application.settings).search("forced labor")
    lexical = replace(service.pipeline.retriever, mode=RetrievalMode.BM25)
    service.use(replace(service.pipeline, retriever=lexical))  # BM25 only: no vectors, no database
    assert client.post("/api/ask", json=asked).status_code == 200

    service.use(pipeline_over(service.pipeline, index))  # the database is back: answers come again
    assert client.post("/api/ask", json=asked).status_code == 200


def test_rag_index_writes_to_the_store_and_refuses_another_embedder_in_one_line(tmp_path, pg_url, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("RAG_DATABASE_URL", pg_url)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setattr("app.indexing.make_embedder", lambda settings: HashEmbedder())
    assert main(["index", str(REPORT_PATH)]) == 0
    assert "-> postgres-build-1" in capsys.readouterr().out
    monkeypatch.setattr("app.indexing.make_embedder", lambda settings: HashEmbedder(name="other-model"))
    assert main(["index", str(MONGOLIA)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rag: error: the store at") and "was built with fake-hash" in err
    assert len(err.splitlines()) == 1
    assert current_build_id(pg_url) == 1


def test_two_writers_at_once_keep_both_reports(tmp_path, pg_url):
    import threading

    settings = shared_settings(tmp_path, pg_url)
    open_index(settings, HashEmbedder(), QUIET)
    said: list[str] = []
    threads = [
        threading.Thread(target=index_documents, args=(settings, HashEmbedder(), [path]), kwargs={"say": said.append})
        for path in (MONGOLIA, RUSSIA)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(load_shared(settings, None).documents) == 3, said
    assert current_build_id(pg_url) == 3
