"""The openai backend against a scripted HTTP server: requests sent, replies streamed, failures explained."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app import generators
from rag.generate.openai_server import (
    GeneratorUnavailable,
    OpenAIGenerator,
    ServerConfig,
    connect,
    first_token_probability,
    pick_model,
)
from rag.generate.protocol import GenerationOptions, NextTokenScorer
from rag.settings import Backend, Settings

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Who?"}]


class Script:
    """What the scripted server replies, and the requests it received."""

    def __init__(self) -> None:
        self.models: list[str] | None = ["qwen-1.5b"]
        self.pieces = ["Inmates ", "log ", "and mine [1]."]
        self.top: dict[str, float] | None = {"NONE": -1.2, "N": -4.0, "In": -0.5, "Yes": -2.0, "No": -0.3}
        self.status = 200  # for chat completions
        self.logprobs_status = 200  # for chat completions that ask for logprobs
        self.error_body: dict[str, Any] = {}
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.headers_seen()
            if self.path == "/v1/models" and script.models is not None:
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in script.models]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            self.headers_seen()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append(body)
            if self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": "not found"}})
                return
            time.sleep(script.delay_s)
            if body.get("logprobs") and script.logprobs_status != 200:
                self._json(script.logprobs_status, {"error": {"message": "logprobs need logits_all"}})
            elif script.status != 200:
                self._json(script.status, script.error_body or {"error": {"message": "refused"}})
            elif body.get("stream"):
                self._stream()
            else:
                self._json(200, self._completion(body))

        def headers_seen(self) -> None:
            script.headers.append({k.lower(): v for k, v in self.headers.items()})

        def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
            logprobs = None
            if body.get("logprobs") and script.top is not None:
                alts = [{"token": t, "logprob": lp, "bytes": None} for t, lp in script.top.items()]
                logprobs = {"content": [{**alts[0], "top_logprobs": alts}]}
            choice = {
                "index": 0,
                "finish_reason": "length",
                "logprobs": logprobs,
                "message": {"role": "assistant", "content": "x"},
            }
            return {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"], "choices": [choice]}

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in [None, *script.pieces]:
                delta = {"role": "assistant"} if piece is None else {"content": piece}
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(url: str, **kwargs: Any) -> ServerConfig:
    return ServerConfig(base_url=url, max_retries=0, **kwargs)


def test_streams_the_pieces_and_sends_greedy_decoding_settings(server):
    url, script = server
    generator = connect(config(url))
    options = GenerationOptions(max_tokens=42)
    assert list(generator.generate(MESSAGES, options)) == script.pieces
    sent = script.requests[-1]
    assert sent["model"] == "qwen-1.5b"  # the one model the server lists
    assert sent["messages"] == MESSAGES
    assert (sent["max_tokens"], sent["temperature"], sent["stream"]) == (42, 0.0, True)
    assert "grammar" not in sent


def test_grammar_is_sent_as_the_llama_cpp_field_or_left_out_with_a_warning(server, caplog):
    url, script = server
    grammar = 'root ::= "a"'
    list(connect(config(url)).generate(MESSAGES, GenerationOptions(grammar=grammar)))
    assert script.requests[-1]["grammar"] == grammar
    quiet = connect(config(url, send_grammar=False))
    with caplog.at_level("WARNING"):
        list(quiet.generate(MESSAGES, GenerationOptions(grammar=grammar)))
        list(quiet.generate(MESSAGES, GenerationOptions(grammar=grammar)))
    assert "grammar" not in script.requests[-1]
    warnings = [r.getMessage() for r in caplog.records if "grammar" in r.getMessage()]
    assert len(warnings) == 1 and "not enforced" in warnings[0]


def test_a_server_with_top_logprobs_scores_the_first_token(server):
    url, _script = server
    generator = connect(config(url))
    assert isinstance(generator, NextTokenScorer)
    # The whole word only: "NONE", not "N".
    assert generator.next_token_probability(MESSAGES, ["NONE"]) == pytest.approx(0.3012, abs=1e-4)
    p_yes = generator.p_yes(MESSAGES)
    assert p_yes == pytest.approx(0.1353 / (0.1353 + 0.7408), abs=1e-3)


def test_a_server_without_logprobs_is_not_a_scorer(server):
    url, script = server
    script.top = None
    generator = connect(config(url))
    assert isinstance(generator, OpenAIGenerator)
    assert not isinstance(generator, NextTokenScorer)
    assert list(generator.generate(MESSAGES, GenerationOptions())) == script.pieces


@pytest.mark.parametrize("status", [400, 422, 500])
def test_a_server_that_fails_logprobs_requests_is_not_a_scorer(server, status):
    url, script = server
    script.logprobs_status = status
    generator = connect(config(url))
    assert not isinstance(generator, NextTokenScorer)
    assert list(generator.generate(MESSAGES, GenerationOptions())) == script.pieces


def test_a_wrong_key_at_start_is_reported_not_taken_for_missing_logprobs(server):
    url, script = server
    script.logprobs_status = 401
    with pytest.raises(GeneratorUnavailable, match="RAG_OPENAI_API_KEY"):
        connect(config(url))


def test_an_unknown_model_names_the_served_ones(server):
    url, _script = server
    with pytest.raises(GeneratorUnavailable) as err:
        connect(config(url, model="gpt-x"))
    message = str(err.value)
    assert url in message and "'gpt-x'" in message and "'qwen-1.5b'" in message and "RAG_OPENAI_MODEL" in message


def test_several_models_and_none_named_asks_which(server):
    url, script = server
    script.models = ["a", "b"]
    with pytest.raises(GeneratorUnavailable, match="lists 'a', 'b': set RAG_OPENAI_MODEL"):
        connect(config(url))
    assert connect(config(url, model="b")).model == "b"


def test_a_server_without_a_model_list_needs_the_model_named(server):
    url, script = server
    script.models = None
    with pytest.raises(GeneratorUnavailable, match="404"):
        connect(config(url))
    assert connect(config(url, model="mine")).model == "mine"


def test_a_closed_port_fails_fast_naming_the_url_and_the_setting():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(GeneratorUnavailable) as err:
        connect(config(url))
    assert time.perf_counter() - started < 10
    assert f"cannot reach the generation server at {url}" in str(err.value)
    assert "RAG_OPENAI_BASE_URL" in str(err.value)


def test_a_slow_server_times_out_instead_of_hanging(server):
    url, script = server
    generator = connect(config(url, timeout_s=0.5))
    script.delay_s = 3.0
    started = time.perf_counter()
    with pytest.raises(GeneratorUnavailable, match=r"did not answer within 0.5 s.*RAG_OPENAI_TIMEOUT"):
        list(generator.generate(MESSAGES, GenerationOptions()))
    assert time.perf_counter() - started < 2.5


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"message": "bad key"}}, r"refused the API key \(HTTP 401\): set RAG_OPENAI_API_KEY"),
        (404, {"error": {"message": "model does not exist"}}, "answered 404 for model 'qwen-1.5b'"),
        (500, {"error": {"message": "CUDA out of memory"}}, "answered HTTP 500: .*CUDA out of memory"),
        (400, {"error": {"message": "unknown field grammar"}}, "HTTP 400: .*set RAG_OPENAI_GRAMMAR=false"),
    ],
)
def test_http_errors_while_generating_are_explained(server, status, body, expected):
    url, script = server
    generator = connect(config(url))
    script.status, script.error_body = status, body
    with pytest.raises(GeneratorUnavailable, match=expected) as err:
        list(generator.generate(MESSAGES, GenerationOptions(grammar='root ::= "a"')))
    assert url in str(err.value)


def test_the_api_key_is_sent_but_never_shown(server):
    url, script = server
    secret = "sk-very-secret-123"
    generator = connect(config(url, api_key=secret))
    assert script.headers[-1]["authorization"] == f"Bearer {secret}"
    script.status = 401
    with pytest.raises(GeneratorUnavailable) as err:
        list(generator.generate(MESSAGES, GenerationOptions()))
    assert secret not in str(err.value)
    assert secret not in repr(generator.config)


def test_no_key_configured_never_borrows_openai_api_key(server, monkeypatch):
    url, script = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    connect(config(url))
    assert "sk-real-openai-key" not in script.headers[-1].get("authorization", "")


def test_settings_select_the_backend_and_hide_the_key(server, monkeypatch, tmp_path):
    url, script = server
    monkeypatch.setenv("RAG_GENERATOR_BACKEND", "openai")
    monkeypatch.setenv("RAG_OPENAI_BASE_URL", url)
    monkeypatch.setenv("RAG_OPENAI_MODEL", "qwen-1.5b")
    monkeypatch.setenv("RAG_OPENAI_API_KEY", "sk-settings-secret")
    monkeypatch.setenv("RAG_OPENAI_TIMEOUT", "7.5")
    settings = Settings(cache_dir=tmp_path / "no-models-here")
    assert settings.generator.backend is Backend.OPENAI
    assert "sk-settings-secret" not in repr(settings)
    generator = generators.make_generator(settings, say=pytest.fail)  # never joins the local model
    assert isinstance(generator, OpenAIGenerator)
    assert generator.config.timeout_s == 7.5
    assert script.headers[-1]["authorization"] == "Bearer sk-settings-secret"
    assert not (tmp_path / "no-models-here").exists()


def test_the_factory_reports_an_unreachable_server():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    settings = Settings(generator_backend=Backend.OPENAI, openai_base_url=url, openai_max_retries=0)
    with pytest.raises(GeneratorUnavailable, match="cannot reach"):
        generators.make_generator(settings)


def test_first_token_probability_matches_whole_words_only():
    top = {"NO": 0.1, "NONE": 0.2, "N": 0.05, " The": 0.6}
    assert first_token_probability(top, ["NONE"]) == pytest.approx(0.2)
    assert first_token_probability(top, ["NO"]) == pytest.approx(0.1)
    assert first_token_probability(top, ["NONE", "NO"]) == pytest.approx(0.3)
    assert first_token_probability(top, ["NONE", "NONE"]) == pytest.approx(0.2)  # counted once
    assert first_token_probability({"N": 0.05, " The": 0.95}, ["NONE"]) == 0.0  # "N" is not "NONE"
    assert first_token_probability(top, ["Yes"]) == 0.0


def test_pick_model_refuses_an_empty_list_without_a_name():
    with pytest.raises(GeneratorUnavailable, match="lists no models"):
        pick_model("", [], "http://h/v1")
    assert pick_model("m", [], "http://h/v1") == "m"
