"""Answer latency on the shipped report: time to the sources, to the whole answer, and the model's share.

    python -m bench.answer --out docs/bench/answer.json [--dataset eval/data/dev.jsonl] [--repeat 1]

Every question of the set (with its history) is answered through `build(settings).pipeline.stream()`,
the way the chat asks; a wrapper times each call the pipeline makes to the model (judging a
sentence, reading yes or no). Printed and written: medians and p95s of the time to the sources (the
first thing the reader sees), of the complete answer, of the time inside the model, the number of
model calls per answer, and the ratios of the model's time to the whole answer.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from app.build import build
from app.generators import make_generator
from bench.stats import machine, summarize
from eval.dataset import load_dataset
from rag.generate.protocol import GenerationOptions, Generator, Message
from rag.settings import Settings
from rag.types import Answer, Sources


@dataclass
class TimedModel:
    """Passes every call to the real model and adds up the calls and the seconds spent in them."""

    inner: Generator
    calls: int = 0
    seconds: float = 0.0

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        started = time.perf_counter()
        self.calls += 1
        yield from self.inner.generate(messages, options)
        self.seconds += time.perf_counter() - started

    def next_token_probability(self, messages: Sequence[Message], words: Sequence[str]) -> float:
        started = time.perf_counter()
        self.calls += 1
        try:
            return self.inner.next_token_probability(messages, words)  # type: ignore[attr-defined]
        finally:
            self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class Run:
    sources_s: float | None
    total_s: float
    model_s: float
    model_calls: int
    abstained: bool


def timed_answer(events: Iterator, model: TimedModel) -> Run:
    """Time to the Sources event and to the end of one answer's stream, and the model's part of it."""
    model.calls, model.seconds = 0, 0.0
    started = time.perf_counter()
    sources = None
    final: Answer | None = None
    for event in events:
        if isinstance(event, Sources) and sources is None:
            sources = time.perf_counter() - started
        elif isinstance(event, Answer):
            final = event
    total = time.perf_counter() - started
    return Run(sources, total, model.seconds, model.calls, bool(final and final.abstained))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("eval/data/dev.jsonl"))
    parser.add_argument("--repeat", type=int, default=1, help="passes over the questions")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/answer.json"))
    args = parser.parse_args()
    items = load_dataset(args.dataset)
    with tempfile.TemporaryDirectory(prefix="rag-bench-answer-") as tmp:
        os.environ.setdefault("RAG_INDEX_DIR", str(Path(tmp) / "index"))
        settings = Settings()
        t = time.perf_counter()
        model = TimedModel(make_generator(settings, say=lambda _m: None))
        pipeline = build(settings, say=lambda _m: None, generator=model).pipeline
        load_s = time.perf_counter() - t
        pipeline.answer(items[0].question, items[0].history)  # the constant prompt prefixes, read once
        rows: list[dict] = []
        for rep in range(args.repeat):
            for item in items:
                run = timed_answer(pipeline.stream(item.question, item.history), model)
                row = {"id": item.id, "repeat": rep, **asdict(run)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                # Written after every answer, so a run stopped early still leaves its figures.
                save(args.out, rows, len(items), load_s, complete=False)
    save(args.out, rows, len(items), load_s, complete=True)
    print(json.dumps(summary(rows), indent=1))


def save(out: Path, rows: list[dict], questions: int, load_s: float, complete: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "questions": questions, "load_s": round(load_s, 2), "complete": complete}
    result |= {"rows": rows, "summary": summary(rows)}
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")


def summary(rows: list[dict]) -> dict:
    """Medians and p95s of each time, the model calls per answer, and the model's share of the answer time."""
    if not rows:
        return {"answers": 0}
    with_sources = [r["sources_s"] for r in rows if r["sources_s"] is not None]
    out: dict = {"answers": len(rows), "abstained": sum(1 for r in rows if r["abstained"])}
    out["sources_s"] = asdict(summarize(with_sources)) if with_sources else None
    for key in ("total_s", "model_s", "model_calls"):
        out[key] = asdict(summarize([float(r[key]) for r in rows]))
    out["model_share_median"] = round(summarize([r["model_s"] / r["total_s"] for r in rows if r["total_s"]]).p50, 3)
    out["sources_share_median"] = round(
        summarize([r["sources_s"] / r["total_s"] for r in rows if r["total_s"] and r["sources_s"] is not None]).p50, 3
    )
    return out


if __name__ == "__main__":
    main()
