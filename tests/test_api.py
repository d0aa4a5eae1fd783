import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from tests.browser.support import PRISON_QUESTION, fake_pipeline, running
from tests.fakes import REPORT_PATH
from ui.app import create_app
from ui.service import AnswerService

CITATION_FIELDS = {"n", "chunk_id", "doc_id", "title", "text", "quote", "quote_start", "quote_end", "supported"}
PASSAGE_FIELDS = {"rank", "chunk_id", "doc_id", "title", "text", "start", "end", "score"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return AnswerService(fake_pipeline(tmp_path_factory.mktemp("api")))


@pytest.fixture(scope="module")
def client(service):
    return TestClient(create_app(service, Settings(max_question_chars=200)))


def assert_contract_answer(body: dict, question: str) -> None:
    """The answer JSON of CONTRACT.md, with values that hold together."""
    assert {"question", "answer", "abstained", "citations", "passages", "timings"} <= set(body)
    assert body["question"] == question and body["abstained"] is False
    assert body["citations"], body
    report = REPORT_PATH.read_text(encoding="utf-8")
    for c in body["citations"]:
        assert set(c) >= CITATION_FIELDS
        assert f"[{c['n']}]" in body["answer"]
        assert report[c["quote_start"] : c["quote_end"]] == c["quote"]
        assert c["quote"] in c["text"] and c["supported"] is True
    assert any("logging, mining, and tending crops" in c["quote"] for c in body["citations"])
    assert [p["rank"] for p in body["passages"]] == list(range(1, len(body["passages"]) + 1))
    for p in body["passages"]:
        assert set(p) >= PASSAGE_FIELDS
    assert {"retrieve_s", "first_token_s", "total_s"} <= set(body["timings"])


def test_ask_returns_the_contract_answer(client):
    response = client.post("/api/ask", json={"question": PRISON_QUESTION, "history": []})
    assert response.status_code == 200
    assert_contract_answer(response.json(), PRISON_QUESTION)


def test_ask_passes_history_and_filters_to_the_pipeline(client, service):
    history = [
        {"role": "user", "content": "Who runs the prison camps?"},
        {"role": "assistant", "content": "The state."},
    ]
    doc_id = next(d.doc_id for d in service.documents if d.title.startswith("U.S."))
    payload = {"question": "And the work?", "history": history, "filters": {"doc_id": doc_id}}
    response = client.post("/api/ask", json=payload)
    body = response.json()
    assert response.status_code == 200
    assert {p["doc_id"] for p in body["passages"]} == {doc_id}
    assert "Who runs the prison camps?" in service.pipeline.generator.last_user_message


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"\xff\xfe{}", 400, "not valid UTF-8"),
        (b'{"question": ', 400, "not valid JSON"),
        (b'["What?"]', 422, "must be a JSON object"),
        (b'{"question": 42}', 422, '"question" must be a string'),
        (b'{"question": "   "}', 422, "the question is empty"),
        (json.dumps({"question": "x" * 201}).encode(), 422, "the limit is 200"),
        (b'{"question": "forced \\u0000 labor"}', 422, "control characters"),
        (b'{"question": "a\\u001b[31m"}', 422, "control characters"),
        (b'{"question": "Hi?", "history": "none"}', 422, '"history" must be a list'),
        (b'{"question": "Hi?", "history": [{"role": "system", "content": "x"}]}', 422, '"history" turns must be'),
        (b'{"question": "Hi?", "filters": {"doc_id": 3}}', 422, '"filters" must be an object'),
        (b'{"question": "Hi?", "query": "x"}', 422, "unknown field(s): query"),
    ],
)
def test_bad_input_gets_a_json_error_not_a_traceback(client, body, status, message):
    response = client.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["error"]
    assert "Traceback" not in response.text


def test_cross_origin_calls_follow_the_allow_list(service):
    default = TestClient(create_app(service, Settings()))
    local = default.post("/api/ask", json={"question": PRISON_QUESTION}, headers={"Origin": "http://localhost:8000"})
    assert local.headers["access-control-allow-origin"] == "http://localhost:8000"
    other = default.post("/api/ask", json={"question": PRISON_QUESTION}, headers={"Origin": "https://news.example"})
    assert "access-control-allow-origin" not in other.headers
    csp = default.get("/").headers["content-security-policy"]
    assert csp == "frame-ancestors 'self' http://localhost:* http://127.0.0.1:*"

    opened = TestClient(create_app(service, Settings(allowed_origins=("https://news.example",))))
    allowed = opened.options(
        "/api/ask", headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://news.example"
    assert opened.get("/").headers["content-security-policy"] == "frame-ancestors 'self' https://news.example"
    lookalike = opened.get("/healthz", headers={"Origin": "https://news.example.evil.test"})
    assert "access-control-allow-origin" not in lookalike.headers


def test_settings_read_the_allow_list_from_the_environment(monkeypatch):
    monkeypatch.setenv("RAG_ALLOWED_ORIGINS", "https://a.example, https://b.example/")
    assert Settings().allowed_origins == ("https://a.example", "https://b.example")


def test_embed_scripts_are_served(client):
    widget = client.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in widget.text and "data-title" in widget.text
    gradio_js = client.get("/gradio.js")
    assert gradio_js.status_code == 200 and "assets/index-" in gradio_js.text


class TurnTakingGenerator:
    """Replies to whichever topic its prompt is about, slowly, and counts overlapping generations."""

    def __init__(self) -> None:
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()

    def generate(self, messages, options):
        prompt = messages[-1]["content"]
        reply = "Inmates do logging, mining, and tending crops." if "inmates" in prompt.lower() else "NONE"
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            for word in reply.split(" "):
                time.sleep(0.02)
                yield word + " "
        finally:
            with self.lock:
                self.active -= 1


def test_concurrent_answers_never_mix(tmp_path):
    from dataclasses import replace

    generator = TurnTakingGenerator()
    pipeline = replace(fake_pipeline(tmp_path), generator=generator)
    questions = [PRISON_QUESTION, "Which European country ended its program for North Korean workers?"] * 3
    results: dict[int, dict] = {}

    with running(create_app(AnswerService(pipeline), Settings())) as url:

        def ask(i: int) -> None:
            results[i] = httpx.post(f"{url}/api/ask", json={"question": questions[i]}, timeout=60).json()

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert generator.most_active == 1
    for i, question in enumerate(questions):
        body = results[i]
        assert body["question"] == question
        if question == PRISON_QUESTION:
            assert body["answer"].startswith("Inmates do logging, mining, and tending crops")
        else:
            assert body["abstained"] is True


def test_gradio_client_ask_and_search(service):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with running(create_app(service, Settings())) as url:
        client = Client(url, verbose=False)
        body = client.predict(question=PRISON_QUESTION, history=[], filters=None, api_name="/ask")
        assert_contract_answer(body, PRISON_QUESTION)
        history = [
            {"role": "user", "content": "Who is held in the camps?"},
            {"role": "assistant", "content": "Critics."},
        ]
        follow_up = client.predict(question=PRISON_QUESTION, history=history, filters=None, api_name="/ask")
        assert_contract_answer(follow_up, PRISON_QUESTION)
        assert "Who is held in the camps?" in service.pipeline.generator.last_user_message
        with pytest.raises(AppError, match="the question is empty"):
            client.predict(question="  ", history=[], filters=None, api_name="/ask")
        html = client.predict("logging mining tending crops", api_name="/search")
        assert '<li class="rr-passage" id="passage-1">' in html and "logging, mining, and tending crops" in html
