import pytest
from fastapi.testclient import TestClient

from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import ChunkingConfig, build_index
from tests.fakes import REPORT_PATH, write
from ui.app import create_app
from ui.render import passages_html


@pytest.fixture
def retriever(tmp_path, embedder):
    folder = tmp_path / "docs"
    write(folder, "evil.txt", "Evil <script>alert(1)</script> report\n\nIt has <img src=x onerror=alert(2)> in it.")
    index = build_index(tmp_path / "idx", [folder, REPORT_PATH], embedder, ChunkingConfig(600, 1)).index
    return Retriever(index, embedder)


def test_passages_are_escaped(retriever):
    html = passages_html(retriever.search("img onerror report", 5))
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_healthz_reports_the_loaded_index(retriever):
    client = TestClient(create_app(retriever, Settings()))
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "documents": 2, "chunks": len(retriever.index.chunks), "embedder": "fake-hash"}


def test_page_is_served(retriever):
    client = TestClient(create_app(retriever, Settings()))
    response = client.get("/")
    assert response.status_code == 200
    assert "<html" in response.text.lower()
