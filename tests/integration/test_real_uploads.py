"""A report added through the web app, with the real models: indexed, asked alone, cited by page."""

import time

from fastapi.testclient import TestClient

from rag.settings import Settings
from tests.fakes import REPORTS
from tests.pdfs import report_pdf

MONGOLIA = REPORTS / "tip-2007-mongolia.txt"


def test_a_pdf_added_through_the_api_is_answered_from_with_page_and_paragraph(real_application, tmp_path):
    settings = Settings(index_dir=tmp_path / "index", feedback_db=tmp_path / "feedback.sqlite3")
    client = TestClient(real_application(settings).web())
    pdf = report_pdf(MONGOLIA.read_text(encoding="utf-8"))
    reply = client.post("/api/reports", files={"file": ("mongolia-2007.pdf", pdf)})
    assert reply.status_code == 202, reply.json()
    job = reply.json()["job"]
    deadline = time.monotonic() + 300
    while (status := client.get(f"/api/reports/jobs/{job}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "done", status
    doc_id = status["doc_id"]

    question = "Where are Mongolian women and girls trafficked to?"
    body = client.post("/api/ask", json={"question": question, "filters": {"doc_id": [doc_id]}}).json()
    assert not body["abstained"], body
    assert body["citations"] and all(c["doc_id"] == doc_id for c in body["citations"])
    assert all(c["page"] >= 1 for c in body["citations"])
    assert any("Macau" in c["quote"] for c in body["citations"]), body["citations"]

    # The same question across every report still cites only Mongolia's report as supported.
    across = client.post("/api/ask", json={"question": question}).json()
    assert all(c["doc_id"] == doc_id for c in across["citations"] if c["supported"]), across
