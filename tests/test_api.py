import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from tests.browser.support import running
from tests.fakes import (
    PRISON_QUESTION,
    REPORT_PATH,
    HeldGenerator,
    TurnTakingGenerator,
    fake_pipeline,
    wait_until,
)
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


def assert_contract_answer(body: dict, question: str, quoting: str = "logging, mining, and tending crops") -> None:
    """The answer JSON of CONTRACT.md, with values that hold together; a citation quotes `quoting`."""
    assert {"question", "answer", "abstained", "citations", "passages", "timings"} <= set(body)
    assert body["question"] == question and body["abstained"] is False
    assert body["citations"], body
    report = REPORT_PATH.read_text(encoding="utf-8")
    for c in body["citations"]:
        assert set(c) >= CITATION_FIELDS
        assert f"[{c['n']}]" in body["answer"]
        assert report[c["quote_start"] : c["quote_end"]] == c["quote"]
        assert c["quote"] in c["text"] and c["supported"] is True
    assert any(quoting in c["quote"] for c in body["citations"])
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
    assert Settings().server.allowed_origins == ("https://a.example", "https://b.example")


def test_embed_scripts_are_served(client):
    widget = client.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in widget.text and "data-title" in widget.text
    gradio_js = client.get("/gradio.js")
    assert gradio_js.status_code == 200 and "assets/index-" in gradio_js.text


def test_concurrent_answers_never_mix(tmp_path):
    generator = TurnTakingGenerator()
    pipeline = replace(fake_pipeline(tmp_path), generator=generator)
    questions = [PRISON_QUESTION, PRISON_QUESTION, *["Which European country ended its program for workers?"] * 2] * 2
    results: dict[int, dict] = {}

    with running(create_app(AnswerService(pipeline), Settings())) as url:

        def ask(i: int) -> None:
            # Half the users go through the JSON API, half through gradio_client, each in its own session.
            if i % 2:
                from gradio_client import Client

                client = Client(url, verbose=False)
                results[i] = client.predict(question=questions[i], history=[], filters=None, api_name="/ask")
            else:
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
            assert "logging, mining, and tending crops" in body["answer"] and "Czech" not in body["answer"]
        else:
            assert "Czech" in body["answer"] and "logging" not in body["answer"]


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
        assert_contract_answer(follow_up, PRISON_QUESTION, quoting="")
        assert "Who is held in the camps?" in service.pipeline.generator.last_user_message
        with pytest.raises(AppError, match="the question is empty"):
            client.predict(question="  ", history=[], filters=None, api_name="/ask")
        html = client.predict("logging mining tending crops", api_name="/search")
        assert '<li class="rr-passage" id="passage-1">' in html and "logging, mining, and tending crops" in html


@contextmanager
def held_server(folder: Path, max_waiting: int, wait_timeout_s: float) -> Iterator[tuple[str, AnswerService, Any]]:
    """A served app whose one answer in progress is held: (url, service, generator); let go at the end."""
    generator = HeldGenerator()
    pipeline = replace(fake_pipeline(folder), generator=generator)
    service = AnswerService(pipeline, max_waiting=max_waiting, wait_timeout_s=wait_timeout_s)
    with running(create_app(service, Settings())) as url:
        try:
            yield url, service, generator
        finally:
            generator.gate.set()


@pytest.fixture
def held(tmp_path):
    with held_server(tmp_path, max_waiting=8, wait_timeout_s=60) as server:
        yield server


def post_in_background(url: str, question: str, results: list) -> threading.Thread:
    def run() -> None:
        results.append(httpx.post(f"{url}/api/ask", json={"question": question}, timeout=60))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_full_line_gets_503_busy_with_retry_after_and_the_waiting_are_answered(held):
    url, service, generator = held
    results: list = []
    threads = [post_in_background(url, PRISON_QUESTION, results)]
    assert generator.started.wait(20)
    threads += [post_in_background(url, PRISON_QUESTION, results) for _ in range(service.max_waiting)]
    wait_until(lambda: service.turns.waiting == service.max_waiting, "the line is full")

    refused = httpx.post(f"{url}/api/ask", json={"question": PRISON_QUESTION}, timeout=20)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "the server is busy: one question is being answered and 8 more are waiting" in refused.json()["error"]

    generator.gate.set()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * (service.max_waiting + 1)
    assert all(r.json()["question"] == PRISON_QUESTION for r in results)


def test_a_question_left_waiting_too_long_gets_503(tmp_path):
    with held_server(tmp_path, max_waiting=4, wait_timeout_s=0.3) as (url, _service, generator):
        results: list = []
        first = post_in_background(url, PRISON_QUESTION, results)
        assert generator.started.wait(20)
        late = httpx.post(f"{url}/api/ask", json={"question": PRISON_QUESTION}, timeout=20)
        assert late.status_code == 503 and int(late.headers["retry-after"]) >= 1
        assert "waited 0.3 s without its turn coming" in late.json()["error"]
        generator.gate.set()
        first.join(60)
        assert results[0].status_code == 200


def test_health_and_search_answer_while_generation_runs_and_the_line_is_full(held):
    from gradio_client import Client

    url, service, generator = held
    gradio = Client(url, verbose=False)
    results: list = []
    threads = [post_in_background(url, PRISON_QUESTION, results)]
    assert generator.started.wait(20)
    threads += [post_in_background(url, PRISON_QUESTION, results) for _ in range(service.max_waiting)]
    wait_until(lambda: service.turns.waiting == service.max_waiting, "the line is full")

    health = httpx.get(f"{url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["queue"] == {"answering": True, "waiting": 8, "max_waiting": 8, "timeout_s": 60.0}
    found = httpx.post(f"{url}/api/search", json={"query": "logging mining tending crops", "k": 3}, timeout=10)
    assert found.status_code == 200
    assert found.json()["query"] == "logging mining tending crops" and len(found.json()["hits"]) == 3
    assert "logging, mining, and tending crops" in found.json()["hits"][0]["text"]
    html = gradio.predict("logging mining tending crops", api_name="/search")
    assert "logging, mining, and tending crops" in html
    assert not results, "no answer came out while the generator was held"

    generator.gate.set()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * (service.max_waiting + 1)


def test_gradio_ask_and_chat_say_busy_when_the_line_is_full(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from ui.app import build_blocks

    with held_server(tmp_path, max_waiting=0, wait_timeout_s=60) as (url, service, generator):
        results: list = []
        first = post_in_background(url, PRISON_QUESTION, results)
        assert generator.started.wait(20)
        with pytest.raises(AppError, match="the server is busy"):
            Client(url, verbose=False).predict(question=PRISON_QUESTION, history=[], filters=None, api_name="/ask")

        blocks = build_blocks(service, Settings())
        respond = next(f.fn for f in blocks.fns.values() if getattr(f.fn, "__name__", "") == "respond")
        updates = list(respond(PRISON_QUESTION, [], ""))
        chat, _answers, _sources, box, *_ = updates[-1]
        assert chat[-1]["role"] == "assistant" and "The server is busy" in chat[-1]["content"]
        assert box == PRISON_QUESTION  # back in the box, to be sent again
        generator.gate.set()
        first.join(60)
    assert results[0].status_code == 200


def test_search_route_checks_its_input(client):
    for body, message in [
        ({"query": ""}, "the query is empty"),
        ({"query": "camps", "k": 0}, '"k" must be a whole number'),
        ({"query": "camps", "k": True}, '"k" must be a whole number'),
        ({"q": "camps"}, '"query" string'),
        ({"query": "camps", "top": 3}, "unknown field(s): top"),
        ({"query": "camps", "filters": {"doc_id": 1}}, '"filters" must be an object'),
    ]:
        response = client.post("/api/search", json=body)
        assert response.status_code == 422 and message in response.json()["error"], (body, response.text)


def test_rate_limit_answers_429_with_retry_after_per_client(service):
    limited = TestClient(create_app(service, Settings(rate_limit="2/minute")))
    for _ in range(2):
        assert limited.post("/api/ask", json={"question": PRISON_QUESTION}).status_code == 200
    refused = limited.post("/api/ask", json={"question": PRISON_QUESTION})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many requests from this address (limit 2 per 1 minute)" in refused.json()["error"]
    # Gradio's routes count in the same budget; pages and health checks are not limited.
    assert limited.post("/gradio_api/queue/join", json={}).status_code == 429
    assert limited.post("/api/search", json={"query": "camps"}).status_code == 429
    assert limited.get("/healthz").status_code == 200
    assert limited.get("/").status_code == 200
    # Another address has its own budget.
    other = TestClient(create_app(service, Settings(rate_limit="2/minute")), client=("10.0.0.2", 5000))
    assert other.post("/api/search", json={"query": "camps"}).status_code == 200


def test_rate_limit_can_be_turned_off_and_is_checked(service, monkeypatch):
    unlimited = TestClient(create_app(service, Settings(rate_limit="")))
    assert all(unlimited.post("/api/search", json={"query": "camps"}).status_code == 200 for _ in range(40))
    monkeypatch.setenv("RAG_RATE_LIMIT", "lots")
    with pytest.raises(ValueError, match="is not a rate limit like"):
        Settings()


def test_gradio_routes_follow_the_allow_list(client):
    for route in ("/gradio_api/queue/join", "/gradio_api/call/ask"):
        allowed = client.options(
            route, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
        )
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        refused = client.options(
            route, headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


def test_server_binds_to_localhost_unless_told(monkeypatch, tmp_path):
    import uvicorn

    from app import build, cli

    assert Settings().server.host == "127.0.0.1"
    pipeline = fake_pipeline(tmp_path)
    monkeypatch.setattr(build, "build", lambda settings, say: build.Application(settings, pipeline))
    bound: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: bound.append((host, port)))
    cli.main(["serve", "--port", "7999"])
    cli.main(["serve", "--host", "0.0.0.0", "--port", "7999"])
    assert bound == [("127.0.0.1", 7999), ("0.0.0.0", 7999)]
