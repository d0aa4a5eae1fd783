"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's own, on the packaged model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import build, generators
from bench.processes import NotServing, free_port, stop, wait_until_serving
from rag.answer.relevance import answers_messages, judge
from rag.generate.openai_server import PROBE, OpenAIScoringGenerator
from rag.index.store import load_index
from rag.settings import Backend, Settings

RAG = str(Path(sys.executable).parent / "rag")
PRISON = "What work are prison camp inmates forced to do?"


@pytest.fixture(scope="module")
def model_path() -> Path:
    return generators.generator_path(Settings(), say=lambda _m: None)


@pytest.fixture(scope="module")
def server_url(model_path, tmp_path_factory) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free port, ready once /v1/models answers."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    threads = str(os.cpu_count() or 2)
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--n_threads", threads]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        try:
            wait_until_serving(f"{url}/models", process, limit_s=180)
        except NotServing as err:
            pytest.fail(f"llama_cpp.server: {err}:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def settings(server_url, tmp_path_factory) -> Settings:
    return Settings(
        index_dir=tmp_path_factory.mktemp("index"),
        generator_backend=Backend.OPENAI,
        openai_base_url=server_url,
    )


@pytest.fixture(scope="module")
def pipeline(settings, real_embedder):
    """The product with the server as its generator (and the embedder loaded once)."""
    return build.build(settings, say=lambda _m: None, embedder=real_embedder).pipeline


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_GENERATOR_BACKEND": "openai",
        "RAG_OPENAI_BASE_URL": settings.openai.base_url,
        **extra,
    }


def test_the_judge_reads_the_same_probabilities_as_the_in_process_backend(pipeline, real_generator):
    """Same messages: the server's P(Yes) that a sentence answers agrees with llama.cpp in process.

    Runs first on the fresh server, whose only request so far was the start-up probe; the local
    model reads that probe too. To return logprobs the server computes logits at every prompt
    position, which changes llama.cpp's sums slightly: the probabilities differed by up to 0.018 in CI
    runs, far less than what separates an answering sentence from another.
    """
    local = real_generator  # the same model file, with the same 2048-token context as the server
    local.next_token_probability(PROBE, ["NONE"])
    sentences = (
        "The government sends political prisoners and criminals to detention camps where they are forced to "
        "engage in labor.",
        "North Korea has not ratified the 2000 UN TIP Protocol.",
    )
    here = [judge(local, answers_messages(PRISON, s)) for s in sentences]
    there = [judge(pipeline.generator, answers_messages(PRISON, s)) for s in sentences]
    assert max(abs(a - b) for a, b in zip(here, there)) < 0.05
    assert here[0] > here[1] and there[0] > there[1]  # the sentence on forced labour answers better


def test_the_server_returns_top_logprobs_so_the_judge_reads_probabilities(pipeline):
    assert isinstance(pipeline.generator, OpenAIScoringGenerator)
    answer = pipeline.answer(PRISON)
    assert 0.0 < answer.signals["p_answers"] < 1.0  # a probability, not a Yes or No reply
    assert not answer.abstained and "labor" in answer.text


def test_rag_ask_answers_through_the_server_with_exact_spans(pipeline, settings):
    question = "Has North Korea ratified the 2000 UN TIP Protocol?"
    result = subprocess.run(
        [RAG, "ask", question, "--json"], capture_output=True, text=True, timeout=600, env=env_for(settings)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert not answer["abstained"]
    assert "not ratified" in answer["answer"].lower(), answer["answer"]
    assert any(c["supported"] for c in answer["citations"]), answer["citations"]
    documents = load_index(settings.index_dir).documents
    for c in answer["citations"]:
        assert documents[c["doc_id"]].text[c["quote_start"] : c["quote_end"]] == c["quote"]


def test_rag_ask_names_an_unreachable_server_in_one_line(pipeline, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # bound, never listening: connections are refused
        env = env_for(settings, RAG_OPENAI_BASE_URL=url, RAG_OPENAI_MAX_RETRIES="0")
        result = subprocess.run([RAG, "ask", PRISON], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rag: error: cannot reach the generation server at {url}")
    assert "RAG_OPENAI_BASE_URL" in lines[0] and "Traceback" not in result.stderr
