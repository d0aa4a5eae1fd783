"""A readable report of a run: metric tables, the worst questions, and PNG plots beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.dataset import EvalItem
from eval.metrics import QuestionScore
from eval.selective import aurc, risk_coverage
from eval.summary import markdown_table

LABELS = {
    "recall@1": "retrieval recall@1",
    "recall@3": "retrieval recall@3",
    "recall@5": "retrieval recall@5",
    "recall@10": "retrieval recall@10",
    "mrr": "retrieval MRR",
    "answer_score": "answer score (must_include)",
    "exact_match": "exact match",
    "abstention_accuracy": "unanswerable questions abstained",
    "false_abstention": "false abstention on answerable",
    "wrong_answered": "wrong among answered",
    "confidently_wrong": "confidently wrong (wrong, all citations Supported; share of answered)",
    "evidence_cited": "cited passage holds the gold evidence",
    "citation_recall": "citation recall",
    "citation_precision": "citation precision",
    "quote_validity": "quote is an exact span at its offsets",
    "aurc": "area under the risk–coverage curve (AURC, lower is better)",
    "first_content_s_median": "time to first visible content (sources or text), median (s)",
    "first_content_s_p95": "time to first visible content (sources or text), p95 (s)",
    "total_s_median": "time to complete answer, median (s)",
    "total_s_p95": "time to complete answer, p95 (s)",
}


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def metrics_table(metrics: Mapping[str, Any], splits: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """One row per metric: the whole run, then each split (the tuning half and the held-back half)."""
    splits = dict(splits or {})
    header = ["metric", "all"] + [f"{name} ({fmt(m.get('questions'))})" for name, m in splits.items()]
    labels = dict(LABELS)
    if metrics.get("unlabelled"):
        # Shown first, so that rows nobody has labelled are never read as wrong answers.
        labels = {"questions": "questions scored", "unlabelled": "unlabelled (not scored)", **labels}
    rows = [
        [label, fmt(metrics.get(key))] + [fmt(m.get(key)) for m in splits.values()] for key, label in labels.items()
    ]
    return markdown_table(header, rows)


COVERAGES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def selective_table(scores: Sequence[QuestionScore]) -> str:
    """The risk–coverage curve (share wrong among the most confident answers at each coverage), the
    operating point the threshold chose, and AURC, for the whole run and each split."""
    groups = {"all": [s for s in scores if s.answerable is not None]}
    for split in sorted({s.split for s in groups["all"]}):
        groups[split] = [s for s in groups["all"] if s.split == split]
    curves = {
        name: risk_coverage([s.confidence for s in g], [s.wrong_if_shown for s in g]) for name, g in groups.items()
    }
    rows = []
    for coverage in COVERAGES:
        cells = []
        for points in curves.values():
            at = [risk for c, risk in points if c <= coverage + 1e-9]
            cells.append(fmt(at[-1]) if at else "–")
        rows.append([f"risk at coverage {coverage:.1f}", *cells])
    operating = []
    for g in groups.values():
        answered = [s for s in g if not s.abstained]
        wrong = sum(1 for s in answered if s.wrong) / len(answered) if answered else None
        operating.append(f"{len(answered) / len(g):.3f} / {fmt(wrong)}" if g else "–")
    rows.append(["operating point: answered / wrong among answered", *operating])
    rows.append(
        ["AURC", *[fmt(aurc([s.confidence for s in g], [s.wrong_if_shown for s in g])) for g in groups.values()]]
    )
    return markdown_table(["", *groups], rows) + "\n\n![risk–coverage](risk_coverage.png)"


def type_table(by_type: Mapping[str, Mapping[str, Any]]) -> str:
    cols = ["questions", "answer_score", "false_abstention", "abstention_accuracy", "evidence_cited", "recall@5"]
    return markdown_table(["type", *cols], [[t] + [fmt(m.get(c)) for c in cols] for t, m in by_type.items()])


def badness(score: QuestionScore) -> float:
    """Higher is worse: wrong abstentions first, then low answer scores, then unsupported sentences."""
    if score.confidently_wrong:
        return 3.5
    if score.answerable and score.abstained:
        return 3.0
    if not score.answerable and not score.abstained:
        return 2.5
    bad = 1.0 - (score.must_include if score.must_include is not None else 1.0)
    if score.sentences:
        bad += 0.5 * (1 - score.sentences_supported / score.sentences)
    return bad


def write_report(
    out_dir: Path,
    items: Sequence[EvalItem],
    predictions: Sequence[Mapping[str, Any]],
    scores: Sequence[QuestionScore],
    metrics: Mapping[str, Any],
    title: str,
    worst: int = 10,
) -> Path:
    """Write report.md (and its plots) into `out_dir`; return the report's path."""
    by_id = {p["id"]: p for p in predictions}
    items_by_id = {i.id: i for i in items}
    plots = _plots(out_dir, scores, metrics)
    table = metrics_table(metrics["overall"], metrics.get("by_split"))
    lines = [f"# {title}", ""]
    unlabelled = metrics.get("unlabelled") or []
    if unlabelled:
        lines += [
            f"unlabelled: {len(unlabelled)} row(s) have no `answerable` label and are left out of every metric "
            f"(not wrong, just not scored): {', '.join(unlabelled[:20])}{' …' if len(unlabelled) > 20 else ''}",
            "",
        ]
    lines += [table, "", "## Abstention as selective prediction", ""]
    lines += [selective_table(scores), ""]
    lines += ["## By question type", ""]
    lines += [type_table(metrics["by_type"]), ""]
    lines += [f"![{name}]({name})" for name in plots]
    lines += ["", f"## The {worst} worst questions", ""]
    for s in sorted(scores, key=badness, reverse=True)[:worst]:
        if badness(s) <= 0:
            break
        item, pred = items_by_id[s.id], by_id[s.id]
        expected = item.answer if item.answerable else "(should abstain)"
        lines.append(f"### {s.id} ({s.type}): {item.question}")
        lines.append("")
        lines.append(f"- expected: {expected}")
        lines.append(f"- answer{' (abstained)' if s.abstained else ''}: {pred['answer']}")
        if s.must_include is not None:
            lines.append(f"- must_include score: {s.must_include:.2f}")
        for c in pred.get("citations", []):
            mark = "supported" if c.get("supported") else "NOT supported"
            lines.append(f'- [{c["n"]}] ({mark}) "{c["quote"]}"')
        lines.append("")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _plots(out_dir: Path, scores: Sequence[QuestionScore], metrics: Mapping[str, Any]) -> list[str]:
    """Answer score by type and latency distribution, as PNG files; their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    types = metrics["by_type"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = list(types)
    values = [
        types[t]["answer_score"] if types[t]["answerable"] else types[t]["abstention_accuracy"] or 0.0 for t in labels
    ]
    ax.bar(labels, [v or 0.0 for v in values], color="#3b6ea5")
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.set_title("Answer score (answerable) / abstention accuracy (unanswerable) by type")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(out_dir / "scores_by_type.png", dpi=110)
    plt.close(fig)
    names.append("scores_by_type.png")

    labelled = [s for s in scores if s.answerable is not None]
    if labelled:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for split in ["all", *sorted({s.split for s in labelled})]:
            group = [s for s in labelled if split == "all" or s.split == split]
            points = risk_coverage([s.confidence for s in group], [s.wrong_if_shown for s in group])
            ax.plot([c for c, _ in points], [r for _, r in points], label=split)
        answered = [s for s in labelled if not s.abstained]
        if answered:
            risk = sum(1 for s in answered if s.wrong) / len(answered)
            ax.plot([len(answered) / len(labelled)], [risk], "ko", label="operating point")
        ax.set_xlabel("coverage (share of questions answered)")
        ax.set_ylabel("risk (share wrong among answered)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title("Risk–coverage")
        fig.tight_layout()
        fig.savefig(out_dir / "risk_coverage.png", dpi=110)
        plt.close(fig)

    totals = [s.total_s for s in scores if s.total_s is not None]
    firsts = [s.first_content_s for s in scores if s.first_content_s is not None]
    if totals:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(
            [totals, firsts], bins=20, label=["complete answer", "first visible content"], color=["#3b6ea5", "#e39b3b"]
        )
        ax.set_xlabel("seconds")
        ax.set_ylabel("questions")
        ax.legend()
        ax.set_title("Latency")
        fig.tight_layout()
        fig.savefig(out_dir / "latency.png", dpi=110)
        plt.close(fig)
        names.append("latency.png")
    return names
