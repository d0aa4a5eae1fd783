"""`rag eval …` commands: run, score, compare, judge, retrieval."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.dataset import EvalItem, load_dataset
from eval.judge import CombinedJudge, LexicalJudge, ModelJudge, YesNoModel, load_pairs, measure, quality_table
from eval.metrics import JudgeFn, with_unlabelled
from eval.report import fmt, write_report
from eval.run import read_predictions, run_questions, score_run
from eval.summary import markdown_table
from rag.jsonl import write_jsonl
from rag.settings import Settings, flat_names

Say = Callable[[str], None]

# The judge used for citation metrics, chosen by its measured accuracy (README, "The judge").
DEFAULT_JUDGE = "model"
HOW_TO_LABEL = (
    'Label a row by setting "answerable" (false when the report does not answer it) and, '
    'for an answerable row, "must_include" and/or "answer".'
)
COMPARE_KEYS = (
    "answer_score",
    "false_abstention",
    "abstention_accuracy",
    "evidence_cited",
    "citation_recall",
    "citation_precision",
    "quote_validity",
    "recall@5",
    "mrr",
    "total_s_median",
    "first_content_s_median",
)


@dataclass(frozen=True)
class Loaded:
    """Models and index loaded once for a whole command."""

    pipeline: Any
    judge: JudgeFn
    doc_texts: dict[str, str]


def make_judge(kind: str, generator: Any) -> JudgeFn:
    if kind == "lexical":
        return LexicalJudge().supports
    model = ModelJudge(generator)
    return model.supports if kind == "model" else CombinedJudge(model).supports


def load(settings: Settings, judge: str, say: Say) -> Loaded:
    from app.build import build

    pipeline = build(settings, say).pipeline
    docs = pipeline.retriever.index.documents
    return Loaded(pipeline, make_judge(judge, pipeline.generator), {k: d.text for k, d in docs.items()})


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (rich); yields the callback that moves it: show(done, total)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=None)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield show


def labelled(items: Sequence[EvalItem], dataset: Path, say: Say) -> list[EvalItem]:
    """The rows that can be scored; says how many unlabelled rows are left out, and how to label them."""
    kept = [i for i in items if i.labelled]
    left = len(items) - len(kept)
    if left and not kept:
        say(f"nothing could be scored: all {left} row(s) of {dataset.name} are unlabelled. {HOW_TO_LABEL}")
    elif left:
        say(f"{left} unlabelled row(s) of {dataset.name} are not run or scored. {HOW_TO_LABEL}")
    return kept


def run(settings: Settings, dataset: Path, out: Path, limit: int | None, judge: str, say: Say) -> dict[str, Any]:
    items = load_dataset(dataset)[:limit] if limit else load_dataset(dataset)
    to_run = labelled(items, dataset, say)
    if not to_run:  # nothing to answer: no models are loaded
        return _write(out, items, [], {}, LexicalJudge().supports, f"Evaluation of {dataset.name}")
    loaded = load(settings, judge, say)
    with progress_bar("answering") as show:
        predictions = run_questions(loaded.pipeline, to_run, show)
    return _write(out, items, predictions, loaded.doc_texts, loaded.judge, f"Evaluation of {dataset.name}")


def score(settings: Settings, dataset: Path, predictions_path: Path, judge: str, say: Say) -> dict[str, Any]:
    """Recompute metrics from saved predictions; the generator loads only for a model judge."""
    from app import generators
    from rag.index.store import load_index

    items = load_dataset(dataset)
    predictions = read_predictions(predictions_path)
    ids = {p["id"] for p in predictions}
    items = [i for i in items if i.id in ids or not i.labelled]
    index = load_index(settings.index_dir)
    generator = generators.make_generator(settings, say) if judge != "lexical" else None
    doc_texts = {k: d.text for k, d in index.documents.items()}
    out = predictions_path.parent
    return _write(
        out,
        items,
        predictions,
        doc_texts,
        make_judge(judge, generator),
        f"Evaluation of {dataset.name}",
        rewrite_predictions=False,
    )


def _write(
    out: Path,
    items: Sequence[EvalItem],
    predictions: list[dict],
    doc_texts: dict[str, str],
    judge: JudgeFn,
    title: str,
    rewrite_predictions: bool = True,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    if rewrite_predictions:
        write_jsonl(out / "predictions.jsonl", predictions)
    # Unlabelled rows are counted, never scored: an unlabelled answer is not a wrong one.
    scores, metrics = score_run([i for i in items if i.labelled], predictions, doc_texts, judge)
    metrics = with_unlabelled(metrics, [i.id for i in items if not i.labelled])
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    write_report(out, items, predictions, scores, metrics, title)
    return metrics


def parse_config(text: str) -> dict[str, str]:
    """'retrieval_mode=dense,chunk_chars=400' -> {'retrieval_mode': 'dense', 'chunk_chars': '400'}."""
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"a configuration is KEY=VALUE[,KEY=VALUE]; got {text!r}")
        if key.strip() not in flat_names():
            raise ValueError(f"unknown setting {key.strip()!r} in {text!r}")
        out[key.strip()] = value.strip()
    return out


def compare(
    settings: Settings, dataset: Path, configs: Sequence[str], out: Path, limit: int | None, judge: str, say: Say
) -> str:
    """Run each configuration on the same questions; one table, side by side.

    The generator is loaded once and shared; a configuration that changes
    chunking gets its own index folder under `out`.
    """
    from app import build, generators

    items = load_dataset(dataset)[:limit] if limit else load_dataset(dataset)
    to_run = labelled(items, dataset, say)
    generator = generators.make_generator(settings, say)
    judge_fn = make_judge(judge, generator)
    results = []
    for n, text in enumerate(configs, start=1):
        merged = {**settings.model_dump(), **parse_config(text)}
        probe = Settings(**merged)
        cfg = Settings(**{**merged, "index_dir": out / "indexes" / f"{probe.chunk_chars}-{probe.chunk_overlap}"})
        pipeline = build.build(cfg, say, generator=generator).pipeline
        with progress_bar(f"[{n}/{len(configs)}] {text}") as show:
            predictions = run_questions(pipeline, to_run, show)
        docs = {k: d.text for k, d in pipeline.retriever.index.documents.items()}
        metrics = _write(out / f"config-{n}", items, predictions, docs, judge_fn, f"{dataset.name}: {text}")
        results.append((text, metrics["overall"]))
    rows = [[key] + [fmt(m.get(key)) for _, m in results] for key in COMPARE_KEYS]
    table = markdown_table(["metric", *(t for t, _ in results)], rows)
    (out / "compare.md").write_text(table + "\n", encoding="utf-8")
    return table


def judge_quality(settings: Settings, pairs_path: Path, say: Say) -> str:
    """Accuracy, precision and recall of each judge on the labelled pairs."""
    from app import generators

    pairs = load_pairs(pairs_path)
    generator = generators.make_generator(settings, say)
    if not isinstance(generator, YesNoModel):
        raise ValueError(f"the {settings.generator.backend} backend cannot serve as a yes/no judge")
    model = ModelJudge(generator)
    probabilities = {p.id: model.probability(p.claim, p.passage) for p in pairs}

    class Cached:
        def __init__(self, threshold: float) -> None:
            self.threshold = threshold

        def supports(self, claim: str, passage: str) -> bool:
            pair = next(p for p in pairs if p.claim == claim and p.passage == passage)
            return probabilities[pair.id] >= self.threshold

    results = [measure(LexicalJudge(), pairs, "lexical")]
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        results.append(measure(Cached(threshold), pairs, f"model, P(yes) >= {threshold}"))
    results.append(measure(CombinedJudge(model), pairs, f"combined (model >= {model.threshold} + lexical vetoes)"))
    return quality_table(results)
