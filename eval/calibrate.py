"""Two measurements behind the trust labels: the verifier's precision on labelled pairs, and the
abstention model fitted on saved runs (cross-validated on the dev split, reported on the held split).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.dataset import EvalItem, load_dataset
from eval.metrics import must_include_score, must_not_hits
from eval.run import read_predictions
from eval.summary import markdown_table
from rag.abstain import FEATURES
from rag.ingest import load_document
from rag.verify import read_aliases, verify


@dataclass(frozen=True)
class Pair:
    id: str
    claim: str
    source: str
    source_file: str
    subject: str
    question: str
    label: bool
    kind: str
    split: str


def load_pairs(path: Path) -> list[Pair]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Pair(**{k: r[k] for k in Pair.__dataclass_fields__}) for r in rows]


def verifier_table(pairs_path: Path, root: Path = Path(".")) -> str:
    """Precision of "Supported" and the share of each failure kind caught, per split, as Markdown."""
    pairs = load_pairs(pairs_path)
    docs = {f: load_document(root / f) for f in sorted({p.source_file for p in pairs})}
    aliases = read_aliases(docs.values())
    verdicts = {}
    for p in pairs:
        subject = aliases.subjects.get(docs[p.source_file].doc_id, frozenset())
        verdicts[p.id] = verify(p.claim, p.source, p.question, subject, aliases).supported
    rows = []
    for split in ("dev", "held", "all"):
        of_split = [p for p in pairs if split == "all" or p.split == split]
        said = [p for p in of_split if verdicts[p.id]]
        true = [p for p in of_split if p.label]
        precision = sum(p.label for p in said) / len(said) if said else None
        recall = sum(verdicts[p.id] for p in true) / len(true) if true else None
        cells = []
        for kind in _kinds(pairs):
            of_kind = [p for p in of_split if p.kind == kind]
            # True pairs: share kept Supported; false ones: share refused (caught).
            right = sum(verdicts[p.id] == p.label for p in of_kind)
            cells.append(f"{right}/{len(of_kind)}")
        rows.append([split, len(of_split), _fmt(precision), _fmt(recall), *cells])
    header = ["split", "pairs", "Supported precision", "Supported recall", *_kinds(pairs)]
    table = markdown_table(header, rows)
    return table + "\n\n(kind columns: pairs the verifier labels right; a false pair is right when refused)"


def _kinds(pairs: Sequence[Pair]) -> list[str]:
    return sorted({p.kind for p in pairs}, key=lambda k: (k != "supported", k))


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


# --- abstention -----------------------------------------------------------------------------------


def wrong(item: EvalItem, pred: Mapping) -> bool:
    """Showing this answer would be wrong: unanswerable, a must_not hit, or no required group present."""
    answer = str(pred.get("answer", ""))
    if not item.answerable or must_not_hits(answer, item.must_not):
        return True
    return must_include_score(answer, item.must_include) == 0.0


def rows(runs: Sequence[tuple[Path, Path]]) -> list[tuple[EvalItem, dict]]:
    """(question, prediction) for every prediction that carries the abstention signals."""
    out = []
    for dataset, predictions in runs:
        items = {i.id: i for i in load_dataset(dataset)}
        for pred in read_predictions(predictions):
            # Unlabelled rows (exported feedback no one has labelled yet) say nothing about right or wrong.
            if pred.get("signals") and pred["id"] in items and items[pred["id"]].labelled:
                out.append((items[pred["id"]], pred))
    return out


def fit(runs: Sequence[tuple[Path, Path]], out: Path, max_wrong: float = 0.05) -> str:
    """Fit the abstention model on the dev split (5-fold cross-validated), pick the threshold, report both splits.

    The threshold is the lowest one whose cross-validated share of wrong answers among those shown
    stays at or under `max_wrong`; the runs must have been made with abstention off
    (RAG_ABSTAIN_THRESHOLD=1.0), so that every question has signals and an answer.
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
    threshold = _choose_threshold(cv, y[dev], max_wrong)
    model.fit(z[dev], y[dev])
    held = model.predict_proba(z[~dev])[:, 1] if (~dev).any() else np.zeros(0)
    out.write_text(
        json.dumps(
            {
                "features": list(FEATURES),
                "coef": [round(float(c), 6) for c in model.coef_[0]],
                "intercept": round(float(model.intercept_[0]), 6),
                "threshold": round(threshold, 4),
                "mean": [round(float(m), 6) for m in mean],
                "scale": [round(float(s), 6) for s in scale],
                "fitted_on": dict(Counter(i.split for i, _ in data)),
                "max_wrong": max_wrong,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    header = ["split", "questions", "answered", "wrong among answered", "abstained when wrong", "answered when right"]
    table = markdown_table(
        header,
        [
            _row("dev (cross-validated)", cv, y[dev], threshold),
            _row("held (fitted model)", held, y[~dev], threshold),
            _row("dev, never abstaining", np.zeros(dev.sum()), y[dev], threshold),
            _row("held, never abstaining", np.zeros((~dev).sum()), y[~dev], threshold),
        ],
    )
    weights = ", ".join(f"{f} {c:+.2f}" for f, c in zip(FEATURES, model.coef_[0]))
    return table + f"\n\nthreshold {threshold:.3f}; standardised weights: {weights}"


def _choose_threshold(p, y, max_wrong: float) -> float:
    import numpy as np

    best = 1.0
    for t in sorted(set(np.round(p, 4)) | {1.0}, reverse=True):
        shown = p < t
        if shown.sum() and y[shown].mean() <= max_wrong:
            best = float(t)
            break
    return best


def _row(name: str, p, y, threshold: float) -> list[object]:
    shown = p < threshold
    n = len(y)
    wrong_shown = y[shown].mean() if shown.sum() else float("nan")
    caught = (~shown & (y == 1)).sum() / max(1, (y == 1).sum())
    kept = (shown & (y == 0)).sum() / max(1, (y == 0).sum())
    return [name, n, int(shown.sum()), f"{wrong_shown:.3f}", f"{caught:.3f}", f"{kept:.3f}"]
