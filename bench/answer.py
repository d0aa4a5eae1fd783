"""Answer latency on the shipped report, and the pipeline's overhead over the bare model.

    python -m bench.answer --out docs/bench/answer.json

Questions: the answerable ones of eval/data/dev.jsonl, with their history. Pass 1 answers each
through `build(settings).pipeline.stream()` while recording the messages the generator receives.
Pass 2 feeds those same messages to the same generator alone. Each pass runs the questions in
the same order, so both see llama.cpp's prefix cache in the same state (the constant
instructions cached, the question part read anew).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.build import build, make_generator
from bench.stats import machine, summarize
from eval.dataset import load_dataset
from rag.generate import GenerationOptions, Generator, Message
from rag.settings import Settings
from rag.types import Answer


@dataclass
class Recorder:
    """Passes calls to the real generator and keeps the last messages and options it was given."""

    inner: Generator
    calls: list[tuple[list[Message], GenerationOptions]] = field(default_factory=list)

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        self.calls.append((list(messages), options))
        return self.inner.generate(messages, options)

    def next_token_probability(self, messages: Sequence[Message], words: Sequence[str]) -> float:
        return self.inner.next_token_probability(messages, words)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Run:
    first_token_s: float | None
    total_s: float
    tokens: int


def timed_stream(events: Iterator) -> tuple[Run, Answer | None]:
    """Time to the first text piece and to the end of a stream of text pieces (and maybe an Answer)."""
    started = time.perf_counter()
    first = None
    pieces = 0
    final = None
    for event in events:
        if isinstance(event, Answer):
            final = event
            continue
        if first is None:
            first = time.perf_counter() - started
        pieces += 1
    return Run(first, time.perf_counter() - started, pieces), final


def prompt_tokens(generator: Generator, messages: Sequence[Message]) -> int | None:
    count = getattr(generator, "_prompt_tokens", None)  # llama.cpp backend: the template's own tokens
    return len(count(messages)) if count else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("eval/data/dev.jsonl"))
    parser.add_argument("--repeat", type=int, default=1, help="passes over the questions (pipeline, then bare)")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/answer.json"))
    args = parser.parse_args()
    items = [i for i in load_dataset(args.dataset) if i.answerable]
    with tempfile.TemporaryDirectory(prefix="rag-bench-answer-") as tmp:
        os.environ.setdefault("RAG_INDEX_DIR", str(Path(tmp) / "index"))
        settings = Settings()
        t = time.perf_counter()
        generator = make_generator(settings, say=lambda _m: None)
        recorder = Recorder(generator)
        pipeline = build(settings, say=lambda _m: None, generator=recorder).pipeline
        load_s = time.perf_counter() - t
        warm = items[0]
        pipeline.answer(warm.question, warm.history)
        rows: list[dict] = []
        for rep in range(args.repeat):
            recorder.calls.clear()
            answered = []
            for item in items:
                before = len(recorder.calls)
                run, final = timed_stream(pipeline.stream(item.question, item.history))
                call = recorder.calls[-1] if len(recorder.calls) > before else None
                answered.append((item, run, final, call))
            for item, run, final, call in answered:
                row = {"id": item.id, "repeat": rep, "pipeline": asdict(run)}
                row["abstained"] = bool(final and final.abstained)
                row["timings"] = dict(final.timings) if final else {}
                row["generated"] = call is not None
                if call is not None:
                    bare, _ = timed_stream(generator.generate(*call))
                    row["bare"] = asdict(bare)
                    row["prompt_tokens"] = prompt_tokens(generator, call[0])
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
    """Medians and p95s of the pipeline and the bare model, and their ratios, over generated answers."""
    gen = [r for r in rows if r.get("bare") and r["pipeline"]["first_token_s"] is not None]
    if not gen:
        return {"generated": 0}

    def speed(run: dict) -> float:
        decode = run["total_s"] - run["first_token_s"]
        return (run["tokens"] - 1) / decode if decode > 0 and run["tokens"] > 1 else 0.0

    out: dict = {"generated": len(gen), "all": len(rows)}
    for side in ("pipeline", "bare"):
        out[side] = {
            "first_token_s": asdict(summarize([r[side]["first_token_s"] for r in gen])),
            "total_s": asdict(summarize([r[side]["total_s"] for r in gen])),
            "tokens_per_s": asdict(summarize([speed(r[side]) for r in gen])),
            "tokens": asdict(summarize([float(r[side]["tokens"]) for r in gen])),
        }
    tokens = [float(r["prompt_tokens"]) for r in gen if r.get("prompt_tokens")]
    out["prompt_tokens"] = asdict(summarize(tokens)) if tokens else None
    out["overhead_ratio_median"] = round(
        summarize([r["pipeline"]["total_s"] / r["bare"]["total_s"] for r in gen]).p50, 3
    )
    out["overhead_ratio_of_medians"] = round(out["pipeline"]["total_s"]["p50"] / out["bare"]["total_s"]["p50"], 3)
    out["first_token_ratio_median"] = round(
        summarize([r["pipeline"]["first_token_s"] / r["bare"]["first_token_s"] for r in gen]).p50, 3
    )
    out["abstained_without_generating"] = sum(1 for r in rows if not r["generated"])
    return out


if __name__ == "__main__":
    main()
