"""The abstention model behind the trust labels, fitted on saved runs (cross-validated on the dev split,
reported on the held split), with its two thresholds: when to abstain, and when to say Supported.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.dataset import EvalItem, load_dataset
from eval.metrics import must_include_score, must_not_hits
from eval.run import read_predictions
from eval.summary import markdown_table
from rag.answer.abstain import FEATURES


def wrong(item: EvalItem, pred: Mapping) -> bool:
    """Showing this answer would be wrong: unanswerable, a must_not hit, or no required group present."""
    answer = str(pred.get("answer", ""))
    if not item.answerable or must_not_hits(answer, item.must_not):
        return True
    return must_include_score(answer, item.must_include) == 0.0


def rows(runs: Sequence[tuple[Path, Path]]) -> list[tuple[EvalItem, dict]]:
    """(question, prediction) for every prediction decided on the abstention signals (not by a rule: a header
    field asked for, a number no passage mentions)."""
    out = []
    for dataset, predictions in runs:
        items = {i.id: i for i in load_dataset(dataset)}
        for pred in read_predictions(predictions):
            # Unlabelled rows (exported feedback no one has labelled yet) say nothing about right or wrong.
            signals = pred.get("signals") or {}
            if all(f in signals for f in FEATURES) and pred["id"] in items and items[pred["id"]].labelled:
                out.append((items[pred["id"]], pred))
    return out


def labelled_rows(runs: Sequence[tuple[Path, Path]]) -> list[dict[str, Any]]:
    """One row per prediction that `rows` keeps: its id, question set (the set file's name), split, signals
    and whether showing its answer would be wrong.

    An abstention is labelled by the draft it would have shown, so that runs made with abstention on
    label the same as runs made with it off.
    """
    out = []
    for dataset, predictions in runs:
        for item, pred in rows([(dataset, predictions)]):
            shown = (pred.get("draft") or "") if pred.get("abstained") else pred["answer"]
            out.append(
                {
                    "id": item.id,
                    "set": dataset.stem,
                    "split": item.split,
                    "signals": {f: pred["signals"][f] for f in FEATURES},
                    "wrong": wrong(item, {**pred, "answer": shown}),
                }
            )
    return out


def export_rows(runs: Sequence[tuple[Path, Path]], out: Path) -> str:
    """Write `labelled_rows` as JSON lines to `out`; returns how many rows of each set and split."""
    data = labelled_rows(runs)
    out.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    counts = Counter((r["set"], r["split"]) for r in data)
    listed = ", ".join(f"{name} {split} {n}" for (name, split), n in sorted(counts.items()))
    return f"wrote {len(data)} rows to {out} ({listed})"


def fit(runs: Sequence[tuple[Path, Path]], out: Path, max_supported_wrong: float = 0.02) -> str:
    """Fit the abstention model on the dev split (5-fold cross-validated), choose its two thresholds on the
    held-back folds, and report the dev (cross-validated) and held (fitted model) halves.

    The abstention threshold makes the fewest mistakes of either kind on the held-back folds: an answer
    that would have been right refused, or a wrong one shown (the two weigh alike). Below the Supported
    threshold, the largest at which at most `max_supported_wrong` of the answers shown are wrong, the
    citations say Supported. The runs must have been made with abstention off (RAG_ABSTAIN_THRESHOLD=1.0),
    so that every question decided on the signals has them and an answer.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    data = rows(runs)
    x = np.array([[float(p["signals"][f]) for f in FEATURES] for _, p in data])
    y = np.array([wrong(i, p) for i, p in data], dtype=int)
    dev = np.array([i.split == "dev" for i, _ in data])
    mean, scale = x[dev].mean(axis=0), x[dev].std(axis=0) + 1e-9
    z = (x - mean) / scale
    model = LogisticRegression(C=1.0, max_iter=1000)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    cv = cross_val_predict(model, z[dev], y[dev], cv=folds, method="predict_proba")[:, 1]
    threshold = fewest_mistakes(cv, y[dev])
    support = supported_threshold(cv, y[dev], threshold, max_supported_wrong)
    model.fit(z[dev], y[dev])
    held = model.predict_proba(z[~dev])[:, 1] if (~dev).any() else np.zeros(0)
    out.write_text(
        json.dumps(
            {
                "features": list(FEATURES),
                "coef": [round(float(c), 6) for c in model.coef_[0]],
                "intercept": round(float(model.intercept_[0]), 6),
                "threshold": round(threshold, 4),
                "support": round(support, 4),
                "mean": [round(float(m), 6) for m in mean],
                "scale": [round(float(s), 6) for s in scale],
                "fitted_on": dict(Counter(i.split for i, _ in data)),
                "max_supported_wrong": max_supported_wrong,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    header = [
        "split",
        "questions",
        "answered",
        "wrong among answered",
        "Supported",
        "wrong among Supported",
        "abstained when wrong",
        "answered when right",
        "AURC",
    ]
    table = markdown_table(
        header,
        [
            _row("dev (cross-validated)", cv, y[dev], threshold, support),
            _row("held (fitted model)", held, y[~dev], threshold, support),
            _row("dev, never abstaining", np.zeros(dev.sum()), y[dev], threshold, support),
            _row("held, never abstaining", np.zeros((~dev).sum()), y[~dev], threshold, support),
        ],
    )
    weights = ", ".join(f"{f} {c:+.2f}" for f, c in zip(FEATURES, model.coef_[0]))
    return table + f"\n\nthreshold {threshold:.3f}, Supported below {support:.3f}; standardised weights: {weights}"


def fewest_mistakes(p, y) -> float:
    """The threshold (abstain at p >= t) with the fewest right answers refused plus wrong answers shown.

    >>> fewest_mistakes([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    0.8
    """
    import numpy as np

    p, y = np.asarray(p), np.asarray(y)
    best, best_cost = 1.0, None
    for t in sorted(set(np.round(p, 4)) | {1.0}):
        cost = int(((p >= t) & (y == 0)).sum() + ((p < t) & (y == 1)).sum())
        if best_cost is None or cost < best_cost:
            best, best_cost = float(t), cost
    return best


def supported_threshold(p, y, threshold: float, max_wrong: float) -> float:
    """The largest t <= threshold at which at most `max_wrong` of the answers with p < t are wrong (0: none).

    >>> supported_threshold([0.1, 0.2, 0.3, 0.9], [0, 0, 1, 1], 0.95, 0.0)
    0.3
    """
    import numpy as np

    p, y = np.asarray(p), np.asarray(y)
    best = 0.0
    for t in sorted(set(np.round(p, 4)) | {threshold}):
        if t > threshold:
            break
        shown = p < t
        if not shown.sum() or y[shown].mean() <= max_wrong:
            best = float(t)
        else:
            break
    return best


def _row(name: str, p, y, threshold: float, support: float) -> list[object]:
    from eval.selective import aurc

    shown = p < threshold
    vouched = p < support
    wrong_shown = y[shown].mean() if shown.sum() else float("nan")
    wrong_vouched = y[vouched].mean() if vouched.sum() else float("nan")
    caught = (~shown & (y == 1)).sum() / max(1, (y == 1).sum())
    kept = (shown & (y == 0)).sum() / max(1, (y == 0).sum())
    return [
        name,
        len(y),
        int(shown.sum()),
        f"{wrong_shown:.3f}",
        int(vouched.sum()),
        f"{wrong_vouched:.3f}",
        f"{caught:.3f}",
        f"{kept:.3f}",
        f"{aurc(1 - p, y):.3f}",
    ]
