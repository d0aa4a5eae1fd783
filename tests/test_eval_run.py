import json
from dataclasses import replace

import pytest

from eval.dataset import DatasetError, load_dataset
from eval.judge import JudgePair, LexicalJudge, measure
from eval.metrics import score_prediction, with_unlabelled
from eval.report import metrics_table, write_report
from eval.run import read_predictions, run_questions, score_run
from rag.answer.abstain import FEATURES, AbstainModel
from rag.index.store import ChunkingConfig, build_index
from rag.jsonl import write_jsonl
from tests.fakes import REPORT_PATH, HashEmbedder, JudgingModel, fake_pipeline_over, write

ROWS = [
    {
        "id": "x1",
        "question": "What is the population of North Korea?",
        "history": [],
        "answerable": False,
        "type": "unanswerable",
        "answer": "",
        "must_include": [],
        "evidence": [],
    },
    {
        "id": "x2",
        "question": "Has North Korea ratified the 2000 UN TIP Protocol?",
        "history": [],
        "answerable": True,
        "type": "fact",
        "answer": "No.",
        "must_include": [["not ratified"]],
        "evidence": ["North Korea has not ratified the 2000 UN TIP Protocol"],
    },
]


@pytest.fixture
def dataset(tmp_path):
    return write(tmp_path, "q.jsonl", "\n".join(json.dumps(r) for r in ROWS) + "\n")


def test_dataset_errors_name_the_line(tmp_path):
    path = write(tmp_path, "bad.jsonl", json.dumps(ROWS[0]) + '\n{"id": "y"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2"):
        load_dataset(path)
    dup = write(tmp_path, "dup.jsonl", json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[0]) + "\n")
    with pytest.raises(DatasetError, match="duplicate id"):
        load_dataset(dup)


def test_run_score_and_report_with_a_scripted_model(tmp_path, dataset):
    embedder = HashEmbedder()
    index = build_index(tmp_path / "idx", [REPORT_PATH], embedder, ChunkingConfig(600, 1)).index
    # Abstains where the model doubts the sentence it would quote.
    doubting = AbstainModel(coef=(-20.0,) + (0.0,) * (len(FEATURES) - 1), intercept=10.0, threshold=0.5)
    pipeline = replace(fake_pipeline_over(index, JudgingModel("has not ratified"), embedder), abstain=doubting)
    items = load_dataset(dataset)
    predictions = run_questions(pipeline, items)
    assert [p["id"] for p in predictions] == ["x1", "x2"]
    write_jsonl(tmp_path / "out" / "predictions.jsonl", predictions)
    assert read_predictions(tmp_path / "out" / "predictions.jsonl") == predictions
    docs = {k: d.text for k, d in index.documents.items()}
    scores, metrics = score_run(items, predictions, docs, LexicalJudge().supports)
    overall = metrics["overall"]
    assert overall["abstention_accuracy"] == 1.0
    assert overall["answer_score"] == 1.0
    assert overall["quote_validity"] == 1.0
    # The one wrong answer (x1's draft) is the least confident: risk 0 at coverage 1/2, 1/2 at 2/2.
    assert overall["aurc"] == 0.25
    assert predictions[0]["draft"] and not predictions[0]["citations"]
    report = write_report(tmp_path / "out", items, predictions, scores, metrics, "test run")
    text = report.read_text()
    assert "| answer score (must_include) | 1.000 |" in text
    assert "| risk at coverage 1.0 | 0.500 |" in text and "| AURC | 0.250 |" in text
    for plot in ("scores_by_type.png", "risk_coverage.png"):
        assert (tmp_path / "out" / plot).exists()


def test_a_row_without_answerable_loads_unlabelled_and_is_never_scored(tmp_path):
    row = {k: v for k, v in ROWS[1].items() if k not in ("answerable", "must_include", "answer", "evidence")}
    path = write(
        tmp_path, "u.jsonl", json.dumps({**row, "id": "f1", "type": "feedback"}) + "\n" + json.dumps(ROWS[1]) + "\n"
    )
    unlabelled, labelled = load_dataset(path)
    assert (unlabelled.answerable, unlabelled.labelled, labelled.labelled) == (None, False, True)
    answered = {"id": "x2", "answer": "It has.", "abstained": False, "citations": []}
    with pytest.raises(ValueError, match="'f1' is unlabelled"):
        score_prediction(unlabelled, answered, {}, None)  # an answer to it is not a wrong answer
    assert score_prediction(labelled, answered, {}, None).wrong is True


def test_the_metrics_table_shows_unlabelled_rows_only_when_there_are_some(dataset):
    items = load_dataset(dataset)
    predictions = [{"id": i.id, "answer": "", "abstained": True, "citations": [], "passages": []} for i in items]
    _scores, metrics = score_run(items, predictions, {}, None)
    assert "unlabelled" not in metrics_table(metrics["overall"])
    table = metrics_table(with_unlabelled(metrics, ["f1", "f2"])["overall"])
    assert "| questions scored | 2 |" in table and "| unlabelled (not scored) | 2 |" in table


def test_score_refuses_predictions_missing_questions(dataset):
    with pytest.raises(ValueError, match="lack 1 question"):
        score_run(load_dataset(dataset), [{"id": "x1", "answer": "", "abstained": True}], {}, None)


def test_measure_counts_precision_and_recall():
    pairs = [
        JudgePair("1", "Camps hold 150,000 persons.", "Camps hold 150,000 persons.", True, "supported"),
        JudgePair("2", "Camps hold 250,000 persons.", "Camps hold 150,000 persons.", False, "wrong_number"),
        JudgePair("3", "Camps exist in the north.", "Camps hold 150,000 persons in the north.", True, "supported"),
    ]
    quality = measure(LexicalJudge(), pairs, "lexical")
    assert quality.accuracy == 1.0 and quality.precision == 1.0 and quality.recall == 1.0
    assert quality.by_kind == {"supported": 1.0, "wrong_number": 1.0}


def test_curves_plots_several_runs_and_tables_their_aurc(tmp_path, dataset):
    from eval.selective import curves

    preds = [
        {"id": "x1", "answer": "Camps.", "abstained": False, "signals": {"p_wrong": 0.6}, "citations": []},
        {
            "id": "x2",
            "answer": "It has not ratified it.",
            "abstained": False,
            "signals": {"p_wrong": 0.1},
            "citations": [],
        },
    ]
    write_jsonl(tmp_path / "p.jsonl", preds)
    table = curves([("one", dataset, tmp_path / "p.jsonl")], tmp_path / "rc.png")
    # x1 answers an unanswerable question, less confidently: risk 0 at coverage 1/2, 1/2 at 2/2.
    assert "| one | 2 | 0.250 | 1.000 | 0.500 |" in table
    assert (tmp_path / "rc.png").stat().st_size > 1000
