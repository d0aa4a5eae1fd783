"""Run a question set through the real pipeline, score it, and write the run's files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.dataset import EvalItem
from eval.metrics import JudgeFn, QuestionScore, aggregate, by_split, by_type, score_prediction
from rag.answer.pipeline import Pipeline
from rag.jsonl import read_jsonl
from rag.serialize import answer_json

Progress = Callable[[int, int], None]


def run_questions(
    pipeline: Pipeline, items: Sequence[EvalItem], on_progress: Progress = lambda done, total: None
) -> list[dict[str, Any]]:
    """One answer JSON (plus `id`) per question, asked with its history as a user would."""
    predictions = []
    for i, item in enumerate(items, start=1):
        answer = pipeline.answer(item.question, item.history)
        predictions.append({"id": item.id, **answer_json(answer)})
        on_progress(i, len(items))
    return predictions


def score_run(
    items: Sequence[EvalItem], predictions: Sequence[Mapping], doc_texts: Mapping[str, str], judge: JudgeFn | None
) -> tuple[list[QuestionScore], dict[str, Any]]:
    """Per-question scores and the run's metrics; predictions are matched to questions by id."""
    by_id = {p["id"]: p for p in predictions}
    missing = [i.id for i in items if i.id not in by_id]
    if missing:
        raise ValueError(f"predictions lack {len(missing)} question(s), e.g. {missing[:3]}")
    scores = [score_prediction(i, by_id[i.id], doc_texts, judge) for i in items]
    metrics: dict[str, Any] = {"overall": aggregate(scores), "by_split": by_split(scores), "by_type": by_type(scores)}
    return scores, metrics


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The predictions of a run, each checked to be an answer object with its question's id."""
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "id" not in row or "answer" not in row:
            raise ValueError(f"{path}:{number}: not a prediction (needs at least id and answer)")
    return rows
