"""The web app reads no file a visitor names: probes of Gradio's file routes and path traversal."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from tests.fakes import fake_pipeline
from ui.app import create_app
from ui.service import AnswerService

REPO = Path(__file__).resolve().parents[1]
SECRET = "report-rag-secret-4f1c"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    service = AnswerService(fake_pipeline(folder))
    with TestClient(create_app(service, Settings(index_dir=folder / "index"))) as client:
        yield client


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("private") / "secret.txt"
    path.write_text(SECRET)
    return path


def targets(secret_file: Path) -> list[str]:
    index_file = next(iter(REPO.glob("rag/data/*.txt")))
    return [str(secret_file), "/etc/passwd", str(REPO / "pyproject.toml"), str(index_file), "pyproject.toml"]


PREFIXES = ["/gradio_api/file=", "/file=", "/gradio_api/file/", "/static/", "/assets/", "/gradio_api/static/"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_file_routes_do_not_serve_files_outside_gradio_cache(client, secret_file, prefix):
    for target in targets(secret_file):
        response = client.get(prefix + target)
        assert response.status_code in (403, 404, 405), (prefix, target, response.status_code)
        assert SECRET not in response.text and "root:x:" not in response.text
        assert "[project]" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/file=../../../../etc/passwd",
        "/gradio_api/file=..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/widget.js/../../../../etc/passwd",
        "/gradio.js?path=/etc/passwd",
    ],
)
def test_path_traversal_is_refused(client, path):
    response = client.get(path)
    assert "root:x:" not in response.text
    if path.startswith("/gradio.js"):
        assert response.text == client.get("/gradio.js").text  # the query is ignored


def test_api_ask_treats_a_path_as_text(client, secret_file):
    """A question that names a file is a question: the file is never opened."""
    response = client.post("/api/ask", json={"question": str(secret_file), "history": []})
    assert response.status_code in (200, 400, 422)
    assert SECRET not in response.text


def test_the_upload_route_refuses_large_files(client):
    small = client.post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000, "text/plain")})
    large = client.post("/gradio_api/upload", files={"files": ("b.txt", b"x" * 1_000_000, "text/plain")})
    assert small.status_code == 200
    assert large.status_code == 413
