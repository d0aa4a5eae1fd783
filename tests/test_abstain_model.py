"""The shipped abstention model on labelled answers of the real system: it vouches only for right answers,
and it still answers.

The rows (eval/data/abstain_rows.jsonl) are the answers the real models gave on the six question sets, each
with the signals the model decides on and whether showing it would be wrong; they were written by

    rag eval calibrate --export-rows eval/data/abstain_rows.jsonl \\
        --run eval/data/people.jsonl runs/people/predictions.jsonl ... (one --run per set: people, people2,
        multi_report, more_reports, report_qa, dev)

from runs of `rag eval run --dataset eval/data/SET.jsonl --out runs/SET` with the default settings. The
floors below were measured on them with the shipped rag/answer/abstain.json by
`python -m tests.test_abstain_model`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rag.answer
from eval.calibrate import export_rows, labelled_rows
from eval.dataset import load_dataset
from rag.answer.abstain import FEATURES, AbstainModel, Signals
from tests.fakes import write

DATA = Path(__file__).resolve().parents[1] / "eval" / "data"
ROWS = DATA / "abstain_rows.jsonl"
SHIPPED = Path(rag.answer.__file__).parent / "abstain.json"

# Measured (see the module's docstring) on 278 dev and 136 held rows: every answer labelled Supported was
# right (13 dev, 6 held; at least one is required, or the precision says nothing), and 156 of the dev rows
# and 69 of the held ones were answered rather than refused.
SUPPORTED_PRECISION = {"dev": 1.0, "held": 1.0}
SUPPORTED_AT_LEAST = {"dev": 1, "held": 1}
ANSWERED_SHARE = {"dev": 156 / 278, "held": 69 / 136}


def load_rows() -> list[dict]:
    return [json.loads(line) for line in ROWS.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(model: AbstainModel, rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per split: rows, Supported (p_wrong below `support`), right among Supported, answered (below `threshold`)."""
    out: dict[str, dict[str, float]] = {}
    for split in sorted({r["split"] for r in rows}):
        mine = [r for r in rows if r["split"] == split]
        p = [model.wrong_probability(Signals(**r["signals"])) for r in mine]
        supported = [r for r, q in zip(mine, p) if q < model.support]
        out[split] = {
            "rows": len(mine),
            "supported": len(supported),
            "supported_precision": sum(not r["wrong"] for r in supported) / len(supported) if supported else 0.0,
            "answered_share": sum(q < model.threshold for q in p) / len(mine),
        }
    return out


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, float]]:
    return measure(AbstainModel.load(SHIPPED), load_rows())


def test_the_rows_are_the_question_sets_answers_with_their_signals():
    rows = load_rows()
    assert {r["split"] for r in rows} == {"dev", "held"}
    for name in {r["set"] for r in rows}:
        items = {i.id: i for i in load_dataset(DATA / f"{name}.jsonl")}
        for r in (r for r in rows if r["set"] == name):
            item = items[r["id"]]
            assert r["split"] == item.split and set(r["signals"]) == set(FEATURES)
            assert r["wrong"] or item.answerable, r  # an answer to an unanswerable question is always wrong


@pytest.mark.parametrize("split", ["dev", "held"])
def test_what_the_model_labels_supported_is_right(measured, split):
    got = measured[split]
    assert got["supported"] >= SUPPORTED_AT_LEAST[split], got
    assert got["supported_precision"] >= SUPPORTED_PRECISION[split], got


@pytest.mark.parametrize("split", ["dev", "held"])
def test_the_model_still_answers(measured, split):
    assert measured[split]["answered_share"] >= ANSWERED_SHARE[split], measured[split]


def test_a_model_that_vouches_for_everything_or_refuses_everything_fails(measured):
    """The floors above catch both ways a model can go wrong."""
    rows = load_rows()
    trusting = measure(AbstainModel(threshold=1.0, support=1.0), rows)
    refusing = measure(AbstainModel(intercept=10.0, threshold=0.5, support=0.0), rows)
    assert any(trusting[s]["supported_precision"] < SUPPORTED_PRECISION[s] for s in trusting)
    assert all(refusing[s]["answered_share"] < ANSWERED_SHARE[s] for s in refusing)


def test_exported_rows_label_an_abstention_by_the_answer_it_would_have_shown(tmp_path):
    signals = {f: 0.5 for f in FEATURES}
    question = {"history": [], "type": "fact", "split": "held"}
    dataset = write(
        tmp_path,
        "tiny.jsonl",
        "\n".join(
            json.dumps(row)
            for row in (
                {**question, "id": "a", "question": "Q?", "answerable": True, "must_include": [["czech"]]},
                {**question, "id": "b", "question": "Q?", "answerable": True, "must_include": [["czech"]]},
                {**question, "id": "c", "question": "Q?", "answerable": False},
                {**question, "id": "d", "question": "Q?"},  # unlabelled: left out
            )
        ),
    )
    refused = "The report does not answer this question."
    predictions = write(
        tmp_path,
        "predictions.jsonl",
        "\n".join(
            json.dumps(p)
            for p in (
                {"id": "a", "answer": refused, "abstained": True, "draft": "The Czech Republic.", "signals": signals},
                {"id": "b", "answer": "Poland.", "abstained": False, "signals": signals},
                {"id": "c", "answer": refused, "abstained": True, "draft": "Tier 3.", "signals": signals},
                {"id": "d", "answer": "Tier 3.", "abstained": False, "signals": signals},
                {"id": "e", "answer": refused, "abstained": True, "signals": {}},  # by a rule: no signals
            )
        ),
    )
    rows = labelled_rows([(dataset, predictions)])
    assert [(r["id"], r["wrong"]) for r in rows] == [("a", False), ("b", True), ("c", True)]
    assert rows[0] == {"id": "a", "set": "tiny", "split": "held", "signals": signals, "wrong": False}
    said = export_rows([(dataset, predictions)], tmp_path / "rows.jsonl")
    assert said.endswith("(tiny held 3)")
    assert [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()] == rows


if __name__ == "__main__":
    for split, values in measure(AbstainModel.load(SHIPPED), load_rows()).items():
        print(split, {k: round(v, 4) for k, v in values.items()})
