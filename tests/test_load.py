"""The load script's checks, without a load: cross-talk detection, question split, the quoting fake."""

import math
from dataclasses import replace

from bench.load import Tally, client_questions, crosstalk, pct, report
from rag.serialize import answer_json
from tests.fakes import PRISON_QUESTION, QuotingGenerator, fake_pipeline

OTHER = "Which European country ended its program for North Korean workers?"


def test_clients_never_share_a_question():
    questions = [f"q{n}" for n in range(83)]
    split = client_questions(questions, 16)
    assert len(split) == 16 and all(split)
    assert sorted(q for mine in split for q in mine) == sorted(questions)


def test_crosstalk_is_caught_by_question_passages_and_citations(tmp_path):
    pipeline = replace(fake_pipeline(tmp_path), generator=QuotingGenerator(0.0))
    mine = answer_json(pipeline.answer(PRISON_QUESTION))
    theirs = answer_json(pipeline.answer(OTHER))
    expected = [p["chunk_id"] for p in mine["passages"]]
    assert mine["abstained"] is False and mine["citations"], "the quoting fake gives a cited answer"

    assert crosstalk(mine, PRISON_QUESTION, expected) is None
    assert "got the answer to" in crosstalk(theirs, PRISON_QUESTION, expected)
    relabelled = {**theirs, "question": PRISON_QUESTION}
    assert "passages for" in crosstalk(relabelled, PRISON_QUESTION, expected)
    stray = {**mine, "citations": [{**mine["citations"][0], "chunk_id": "a-chunk-of-another-answer"}]}
    assert "citations for" in crosstalk(stray, PRISON_QUESTION, expected)


def test_report_counts_busy_errors_and_crosstalk_apart():
    class Args:
        fake, fake_seconds, clients, duration = True, 0.5, 4, 10.0

    http = Tally(latencies=[1.0, 2.0, 3.0], busy=2, busy_after_timeout=1, busy_latencies=[0.1, 0.3])
    gradio = Tally(latencies=[4.0], errors=["HTTP 500: boom"], timeouts=1, crosstalk=["asked a, got b"])
    info = {"generator": "QuotingGenerator", "queue": {"max_waiting": 16, "timeout_s": 60.0}}
    text = report(Args(), info, {"http": http, "gradio": gradio}, 10.0, {"/healthz": [0.01, 0.02]}, [])
    assert "| http | 3 | 0.30 | 2.0 | 2.9 | 3.0 | 2 (1) | 0.2 | 0 | 0 | 0 |" in text
    assert "| gradio | 1 | 0.10 | 4.0 | 4.0 | 4.0 | 0 (0) | nan | 1 | 1 | 1 |" in text
    assert "| all | 4 | 0.40 | 2.5 | 3.9 | 4.0 | 2 (1) | 0.2 | 1 | 1 | 1 |" in text
    assert "- problem: HTTP 500: boom" in text and "- problem: asked a, got b" in text
    assert math.isnan(pct([], 50))
