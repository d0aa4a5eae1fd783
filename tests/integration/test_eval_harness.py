"""The harness end to end on the dev set with the real models."""

import json
import os
import subprocess
import sys
from pathlib import Path

RAG = str(Path(sys.executable).parent / "rag")
DEV = Path(__file__).parents[2] / "eval" / "data" / "dev.jsonl"


def rag(*args, env):
    result = subprocess.run([RAG, *args], capture_output=True, text=True, timeout=1800, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_run_then_score_gives_the_same_metrics(tmp_path):
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index")}
    out = tmp_path / "dev"
    rag("eval", "run", "--dataset", str(DEV), "--out", str(out), "--judge", "lexical", env=env)
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [f"d{n:02d}" for n in range(1, 19)]
    for p in predictions:
        assert {"question", "answer", "abstained", "citations", "passages", "timings"} <= set(p)
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["overall"]
    for key in (
        "recall@1",
        "recall@5",
        "recall@10",
        "mrr",
        "answer_score",
        "exact_match",
        "abstention_accuracy",
        "false_abstention",
        "evidence_cited",
        "citation_recall",
        "citation_precision",
        "quote_validity",
        "first_content_s_median",
        "total_s_median",
        "total_s_p95",
        "aurc",
    ):
        assert overall[key] is not None, key
    assert overall["questions"] == 18 and overall["unanswerable"] == 4
    # Answerable questions are answered: 12 of the 14 were in a run with the default settings (false
    # abstention 0.143, `rag eval run --dataset eval/data/dev.jsonl`); one more refusal is allowed for the
    # arithmetic of other CPUs. Refusing everything would keep the checks below true.
    assert overall["false_abstention"] <= 3 / 14, overall["false_abstention"]
    assert overall["abstention_accuracy"] == 1.0  # and the 4 unanswerable ones are refused
    assert overall["quote_validity"] == 1.0
    assert overall["recall@5"] == 1.0
    assert set(metrics["by_type"]) == {"fact", "paraphrase", "multi-turn", "unanswerable", "injection"}
    report = (out / "report.md").read_text()
    assert "answer score (must_include)" in report and (out / "scores_by_type.png").stat().st_size > 1000

    rag(
        "eval",
        "score",
        "--dataset",
        str(DEV),
        "--predictions",
        str(out / "predictions.jsonl"),
        "--judge",
        "lexical",
        env=env,
    )
    assert json.loads((out / "metrics.json").read_text()) == metrics
