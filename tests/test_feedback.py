import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.cli import main
from eval import commands
from eval.dataset import load_dataset
from eval.judge import LexicalJudge
from rag.feedback import MAX_NOTE_CHARS, Feedback, FeedbackError, FeedbackStore, Rating
from rag.index.store import ChunkingConfig, build_index
from rag.jsonl import read_jsonl
from rag.schema import FeedbackRequest, QuestionError, parse
from tests.fakes import REPORT_PATH, HashEmbedder, fake_pipeline_over, fake_settings, write
from ui.feedback import UNAVAILABLE, add_feedback_routes

ANSWER = {
    "question": "What work are prison camp inmates forced to do?",
    "answer": "Inmates do logging, mining, and tending crops [1].",
    "abstained": False,
    "citations": [
        {
            "n": 1,
            "chunk_id": "c1",
            "doc_id": "tip-2007-north-korea",
            "title": "Trafficking in Persons Report 2007: North Korea",
            "text": "Prisoners are forced into logging, mining, and tending crops.",
            "quote": "logging, mining, and tending crops",
            "quote_start": 10,
            "quote_end": 44,
            "supported": True,
        }
    ],
    "passages": [],
    "timings": {"total_s": 1.0},
}
PROVENANCE = {"index_build": "b-42", "embedder": "fake-hash", "generator": "scripted", "generator_sha256": "ab" * 32}
HISTORY = ({"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Ask about the report."})


def verdict(n: int = 0, rating: Rating = Rating.WRONG, **values) -> Feedback:
    return Feedback(
        **{
            "question": f"question {n}?",
            "answer": ANSWER,
            "rating": rating,
            "history": HISTORY,
            "note": f"note {n}",
            "provenance": PROVENANCE,
            "created": f"2025-05-01T09:30:{n % 60:02d}Z",
            **values,
        }
    )


def body(**values) -> dict:
    return {"question": "What work are inmates forced to do?", "answer": ANSWER, "rating": "wrong", **values}


# --- the store -------------------------------------------------------------------------------------


def test_the_store_keeps_every_field_and_survives_a_restart(tmp_path):
    path = tmp_path / "deep" / "folder" / "feedback.sqlite3"  # the folders are made on first use
    store = FeedbackStore(path)
    assert store.rows() == [] and store.count() == 0 and not path.exists()
    first = store.add(verdict(1))
    second = store.add(verdict(2, Rating.HELPFUL, note=""))
    assert (first, second) == (1, 2)

    again = FeedbackStore(path)  # a restarted server: a new object on the same file
    assert again.count() == 2 and again.count(Rating.WRONG) == 1
    rows = again.rows()
    assert rows[0] == verdict(1, id=1)
    assert [r.id for r in again.rows(Rating.HELPFUL)] == [2]
    assert list(again) == rows
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_note_added_after_the_rating_is_kept(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    kept = store.add(verdict(1, note=""))
    store.annotate(kept, "the year is 2006, not 2007")
    assert FeedbackStore(store.path).rows()[0].note == "the year is 2006, not 2007"
    with pytest.raises(ValueError, match="no feedback with id 99"):
        store.annotate(99, "lost")
    with pytest.raises(ValueError, match=f"the limit is {MAX_NOTE_CHARS}"):
        store.annotate(kept, "x" * (MAX_NOTE_CHARS + 1))


def test_twenty_threads_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    # One store object per thread, so the threads meet at SQLite's lock (as two server processes would).
    barrier = threading.Barrier(20)

    def post(n: int) -> int:
        barrier.wait()
        return FeedbackStore(path).add(verdict(n))

    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(post, range(20)))
    assert sorted(ids) == list(range(1, 21))
    assert sorted(r.question for r in FeedbackStore(path).rows()) == sorted(f"question {n}?" for n in range(20))


def test_a_damaged_or_unwritable_database_is_a_clear_error(tmp_path):
    damaged = write(tmp_path, "feedback.sqlite3", b"this is not a database" * 100)
    with pytest.raises(FeedbackError, match=r"cannot write to the feedback database .*feedback.sqlite3"):
        FeedbackStore(damaged).add(verdict())
    with pytest.raises(FeedbackError, match="cannot read"):
        FeedbackStore(damaged).rows()
    blocked = write(tmp_path, "a-file", "x") / "feedback.sqlite3"  # its folder is a file
    with pytest.raises(FeedbackError, match="RAG_FEEDBACK_DB"):
        FeedbackStore(blocked).add(verdict())


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    with pytest.raises(FeedbackError, match="schema version 7"):
        FeedbackStore(path).add(verdict())


def test_a_record_checks_its_rating_and_note():
    with pytest.raises(ValueError, match="rating must be one of helpful, wrong"):
        verdict(rating="meh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"the limit is {MAX_NOTE_CHARS}"):
        verdict(note="x" * (MAX_NOTE_CHARS + 1))


# --- the request body ------------------------------------------------------------------------------


def test_a_valid_body_becomes_a_request():
    req = parse(FeedbackRequest, body(history=list(HISTORY), note="  the year is wrong \n"), 2000)
    assert req.rating is Rating.WRONG and req.note == "the year is wrong"
    assert [t.role for t in req.history] == ["user", "assistant"] and req.answer == ANSWER
    assert parse(FeedbackRequest, body(note=None), 2000).note == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (body(rating="meh"), '"rating" must be "helpful" or "wrong", not "meh"'),
        (body(rating=None), '"rating" must be "helpful" or "wrong"'),
        ({"question": "q?", "answer": ANSWER}, "missing field(s): rating"),
        (body(score=5), "unknown field(s): score"),
        (body(answer="it is tier 3"), '"answer" must be the answer JSON'),
        (body(answer={"answer": "x"}), '"citations" (a list)'),
        (body(answer={"answer": "x", "citations": ["a"]}), "of citation objects"),
        (body(answer={**ANSWER, "padding": "x" * 600_000}), '"answer" has 6'),
        (body(note="x" * 2001), '"note" has 2001 characters; the limit is 2000'),
        (body(note="bell\x07"), '"note" contains control characters'),
        (body(question=""), "the question is empty"),
        (body(question="x" * 101), "the question has 101 characters; the limit is 100"),
        (body(history=[{"role": "system", "content": "x"}]), '"history" turns must be'),
        ([1, 2], "the body must be a JSON object"),
    ],
)
def test_a_bad_body_gets_one_readable_message(data, message):
    with pytest.raises(QuestionError) as err:
        parse(FeedbackRequest, data, 100)
    assert message in str(err.value)


# --- the route -------------------------------------------------------------------------------------


def feedback_app(store: FeedbackStore, max_chars: int = 2000) -> TestClient:
    app = FastAPI()
    add_feedback_routes(app, store, lambda: PROVENANCE, max_chars, clock=lambda: "2025-05-01T09:30:00Z")
    return TestClient(app)


def test_a_post_is_stored_with_its_provenance_and_time(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    response = feedback_app(store).post("/api/feedback", json=body(history=list(HISTORY), note="wrong year"))
    assert response.status_code == 201 and response.json() == {"id": 1}
    assert store.rows() == [
        Feedback(
            question="What work are inmates forced to do?",
            answer=ANSWER,
            rating=Rating.WRONG,
            history=HISTORY,
            note="wrong year",
            provenance=PROVENANCE,
            created="2025-05-01T09:30:00Z",
            id=1,
        )
    ]


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (json.dumps(body(rating="bad")).encode(), 422, '"rating" must be "helpful" or "wrong"'),
        (json.dumps(body(extra=1)).encode(), 422, "unknown field(s): extra"),
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid UTF-8"),
        (b'"' + b"x" * 1_000_001 + b'"', 413, "larger than"),
    ],
)
def test_bad_bodies_get_an_error_and_store_nothing(tmp_path, content, status, message):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    response = feedback_app(store).post("/api/feedback", content=content)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert store.count() == 0


def test_a_store_that_cannot_write_is_503_not_a_silent_drop(tmp_path):
    damaged = write(tmp_path, "feedback.sqlite3", b"garbage" * 500)
    response = feedback_app(FeedbackStore(damaged)).post("/api/feedback", json=body())
    assert response.status_code == 503
    assert response.json() == {"error": UNAVAILABLE}
    assert str(tmp_path) not in response.text  # the server's paths stay in its log


def test_twenty_concurrent_posts_are_all_stored_and_seen_after_a_restart(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    barrier = threading.Barrier(20)
    with feedback_app(FeedbackStore(path)) as client:

        def post(n: int):
            barrier.wait()
            return client.post("/api/feedback", json=body(question=f"question {n}?"))

        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(post, range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    assert sorted(r.json()["id"] for r in responses) == list(range(1, 21))
    restarted = FeedbackStore(path)
    assert restarted.count() == 20
    assert {r.question for r in restarted.rows()} == {f"question {n}?" for n in range(20)}


# --- export, and the exported file as a question set -----------------------------------------------


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """Three verdicts in the file RAG_FEEDBACK_DB names: wrong, helpful, wrong."""
    path = tmp_path / "db" / "feedback.sqlite3"
    monkeypatch.setenv("RAG_FEEDBACK_DB", str(path))
    store = FeedbackStore(path)
    for n, rating in enumerate([Rating.WRONG, Rating.HELPFUL, Rating.WRONG], start=1):
        store.add(verdict(n, rating))
    return store


def test_export_writes_unlabelled_question_rows(tmp_path, stored, capsys):
    out = tmp_path / "out" / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 3 feedback row(s) (all ratings) to {out}"
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["feedback-1", "feedback-2", "feedback-3"]
    assert rows[0] == {
        "id": "feedback-1",
        "question": "question 1?",
        "history": list(HISTORY),
        "type": "feedback",
        "given_answer": ANSWER["answer"],
        "given_abstained": False,
        "given_citations": [
            {
                "n": 1,
                "doc_id": "tip-2007-north-korea",
                "title": "Trafficking in Persons Report 2007: North Korea",
                "quote": "logging, mining, and tending crops",
                "supported": True,
            }
        ],
        "rating": "wrong",
        "note": "note 1",
        "provenance": PROVENANCE,
        "created": "2025-05-01T09:30:01Z",
    }
    assert not {"answerable", "must_include", "answer", "evidence"} & set().union(*rows)
    assert [p.name for p in out.parent.iterdir()] == ["feedback.jsonl"]  # no temporary file left behind


def test_export_filtered_by_rating(tmp_path, stored, capsys):
    out = tmp_path / "wrong.jsonl"
    assert main(["feedback", "export", "--out", str(out), "--rating", "wrong"]) == 0
    assert [r["id"] for r in read_jsonl(out)] == ["feedback-1", "feedback-3"]
    assert "(rated wrong)" in capsys.readouterr().out
    assert main(["feedback", "export", "--out", str(out), "--rating", "helpful"]) == 0
    assert [r["rating"] for r in read_jsonl(out)] == ["helpful"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rating", "meh"], "invalid choice: 'meh'"),
        (["--out", "{tmp}"], "is a folder"),
        (["--out", "{tmp}/a-file/x.jsonl"], "cannot write"),
    ],
)
def test_export_bad_input_is_one_line_exit_2(tmp_path, stored, capsys, argv, message):
    write(tmp_path, "a-file", "x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "x.jsonl")]
    assert main(["feedback", "export", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_export_without_a_database_says_there_is_no_feedback_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_FEEDBACK_DB", str(tmp_path / "none.sqlite3"))
    assert main(["feedback", "export", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "no feedback yet" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "none.sqlite3").exists()


def test_export_from_a_damaged_database_fails_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_FEEDBACK_DB", str(write(tmp_path, "feedback.sqlite3", b"garbage" * 500)))
    assert main(["feedback", "export", "--out", str(tmp_path / "x.jsonl")]) == 1
    assert "cannot read the feedback database" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_the_exported_file_loads_as_unlabelled_rows(tmp_path, stored):
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    items = load_dataset(out)
    assert [i.id for i in items] == ["feedback-1", "feedback-2", "feedback-3"]
    assert all(not i.labelled and i.answerable is None and i.type == "feedback" for i in items)
    assert items[0].history[1].content == "Ask about the report." and items[0].answer == ""


def test_eval_run_on_only_unlabelled_rows_scores_nothing_and_says_how_to_label(tmp_path, stored, monkeypatch, capsys):
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out)]) == 0

    def no_models(*_args):
        raise AssertionError("no model is needed when nothing can be scored")

    monkeypatch.setattr(commands, "load", no_models)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "idx"))
    assert main(["eval", "run", "--dataset", str(out), "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "nothing could be scored: all 3 row(s) of feedback.jsonl are unlabelled" in captured.err
    assert 'setting "answerable"' in captured.err and '"must_include" and/or "answer"' in captured.err
    assert "| unlabelled (not scored) | 3 |" in captured.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["overall"]["questions"] == 0 and metrics["overall"]["unlabelled"] == 3
    assert metrics["overall"]["wrong_answered"] is None
    assert "unlabelled: 3 row(s)" in (tmp_path / "run" / "report.md").read_text()


def test_eval_run_scores_labelled_rows_and_reports_the_unlabelled_apart(tmp_path, stored, monkeypatch):
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out), "--rating", "wrong"]) == 0
    labelled = json.loads(out.read_text().splitlines()[0])
    labelled.update(
        id="labelled-1",
        question="Has North Korea ratified the 2000 UN TIP Protocol?",
        history=[],
        answerable=True,
        must_include=[["not ratified"]],
    )
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(labelled) + "\n")
    embedder = HashEmbedder()
    index = build_index(tmp_path / "idx", [REPORT_PATH], embedder, ChunkingConfig(600, 1)).index
    pipeline = fake_pipeline_over(index, "1\nNorth Korea has not ratified the 2000 UN TIP Protocol.", embedder)
    docs = {k: d.text for k, d in index.documents.items()}
    loaded = commands.Loaded(pipeline, LexicalJudge().supports, docs)
    monkeypatch.setattr(commands, "load", lambda *_args: loaded)
    said: list[str] = []
    settings = fake_settings(tmp_path / "idx")
    metrics = commands.run(settings, out, tmp_path / "run", None, "lexical", said.append)
    overall = metrics["overall"]
    assert (overall["questions"], overall["unlabelled"], overall["answer_score"]) == (1, 2, 1.0)
    assert overall["wrong_answered"] == 0.0  # the unlabelled rows are not counted as wrong answers
    assert metrics["unlabelled"] == ["feedback-1", "feedback-3"]
    assert said == ["2 unlabelled row(s) of feedback.jsonl are not run or scored. " + commands.HOW_TO_LABEL]
    predictions = read_jsonl(tmp_path / "run" / "predictions.jsonl")
    assert [p["id"] for p in predictions] == ["labelled-1"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| unlabelled (not scored) | 2 |" in report and "| questions scored | 1 |" in report
