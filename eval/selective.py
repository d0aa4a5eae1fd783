"""Abstention as selective prediction: the risk–coverage curve and its area (AURC).

Answers are sorted from the most to the least confident; showing the first k of n covers k/n of the
questions, and the risk at that coverage is the share of those k that are wrong. AURC is the mean
risk over k = 1..n: lower is better, and an abstention model that ranked every wrong answer last
would reach the lowest value the answers allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def risk_coverage(confidence: Sequence[float], wrong: Sequence[bool | int]) -> list[tuple[float, float]]:
    """(coverage, risk) after each answer, most confident first; ties stay in their given order.

    >>> risk_coverage([0.9, 0.2, 0.5], [0, 1, 0])
    [(0.3333333333333333, 0.0), (0.6666666666666666, 0.0), (1.0, 0.3333333333333333)]
    """
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    points, errors = [], 0
    for k, i in enumerate(order, start=1):
        errors += int(bool(wrong[i]))
        points.append((k / len(order), errors / k))
    return points


def aurc(confidence: Sequence[float], wrong: Sequence[bool | int]) -> float:
    """Area under the risk–coverage curve (mean risk over the coverages 1/n..1); 0 for no answers.

    >>> aurc([0.9, 0.2, 0.5], [0, 1, 0])
    0.1111111111111111
    >>> aurc([0.9, 0.8], [1, 0]) > aurc([0.9, 0.8], [0, 1])
    True
    """
    points = risk_coverage(confidence, wrong)
    return sum(risk for _, risk in points) / len(points) if points else 0.0


def curves(runs: Sequence[tuple[str, Path, Path]], out: Path, split: str = "all") -> str:
    """The risk–coverage curve of each saved run (name, question set, predictions) in one plot, with the
    operating point each took; returns a Markdown table of each run's AURC and operating point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eval.dataset import load_dataset
    from eval.run import read_predictions, score_run
    from eval.summary import markdown_table

    fig, ax = plt.subplots(figsize=(6, 4.2))
    rows = []
    for name, dataset, predictions in runs:
        items = [i for i in load_dataset(dataset) if i.labelled and split in ("all", i.split)]
        scores, _metrics = score_run(items, read_predictions(predictions), {}, None)
        confidence, wrong = [s.confidence for s in scores], [s.wrong_if_shown for s in scores]
        points = risk_coverage(confidence, wrong)
        line = ax.plot([c for c, _ in points], [r for _, r in points], label=name)[0]
        answered = [s for s in scores if not s.abstained]
        risk = sum(1 for s in answered if s.wrong) / len(answered) if answered else 0.0
        coverage = len(answered) / len(scores) if scores else 0.0
        ax.plot([coverage], [risk], "o", color=line.get_color())
        rows.append([name, len(scores), f"{aurc(confidence, wrong):.3f}", f"{coverage:.3f}", f"{risk:.3f}"])
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("risk (share wrong among answered)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Risk–coverage ({split} rows); dots: the operating point")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return markdown_table(["run", "questions", "AURC", "answered", "wrong among answered"], rows)
