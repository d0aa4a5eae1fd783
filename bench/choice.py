"""How well the answer stage chooses what to quote, and how well its signals tell right answers from wrong.

    python -m bench.choice [--sets people,people2,report_qa,dev,multi_report,more_reports] [--split dev]
                           [--compare-prompts] [--out docs/bench/choice.json]
    python -m bench.choice --weights 0.4,0.5,0.6,0.7      # the ranking alone, no model

For the questions of the sets (the dev rows by default: the held rows stay out of every decision)
that the sentence path answers (not a header field, not a whole-report summary), each set over its
own corpus: the candidates are ranked as the pipeline ranks them, and the model judges the two best
with the pipeline's prompt (and, with --compare-prompts, with the earlier wording). Printed:

- the share of answerable questions with a sentence holding the gold evidence among the first k
  candidates (k = 1, 2, 3, 4, 6);
- the judge's AUC: sentences holding the evidence against the other candidates, and answerable
  against unanswerable questions (by the better of the two best sentences);
- for each way of choosing the quotes (the first only; the second too when P(answers) >= t; the
  runner-up instead of the first when the model prefers it), the answer score without abstention
  and the area under the risk–coverage curve of a logistic model over the signals, 5-fold
  cross-validated; and the same with the model's judgements left out of the signals.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.build import build
from app.generators import make_generator
from eval.dataset import EvalItem, load_dataset
from eval.metrics import must_include_score, must_not_hits
from eval.retrieval import holds, normalize
from eval.selective import aurc
from rag.answer.abstain import FEATURES, answer_type_matches
from rag.answer.context import select_context
from rag.answer.conversation import last_user_turn, retrieval_query
from rag.answer.intent import Kind, asked_fields, read_intent, reasons_query
from rag.answer.relevance import answers_messages, judge, prompt_messages
from rag.generate.protocol import Generator
from rag.settings import DEFAULT_CORPUS, AnswerSettings, Settings
from tests.fakes import NoModel

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "eval" / "data"
# Each question set and the reports it is asked over (the default report alone when none is given).
CORPORA = {
    "multi_report": (DATA / "reports",),
    "more_reports": (DATA / "more_reports",),
}
SETS = ("people", "people2", "report_qa", "dev", "multi_report", "more_reports")
# The wording the judge used before the present one, for --compare-prompts.
EARLIER_SYSTEM = (
    "You check whether a sentence from a report answers a question. It answers when it states the fact "
    "asked for, or states that the thing asked about does not exist or did not happen. It does not answer "
    "when it is about something else, or about the same topic without the fact asked for. Reply Yes or No."
)
EARLIER_ASK = "Does the sentence answer the question?"
SECOND = (0.2, 0.3, 0.4, 0.5)


@dataclass(frozen=True)
class Judged:
    """One question: its two best candidates, which hold the evidence, and the model's P(answers)."""

    set: str
    item: EvalItem
    texts: tuple[str, ...]
    gold: tuple[bool, ...]
    p: tuple[float, ...]
    p_earlier: tuple[float, ...]
    dense: tuple[float, ...]
    overlap: tuple[float, ...]
    score: tuple[float, ...]
    ranked: tuple[bool, ...]  # gold flags of the first six candidates, for recall@k


def sentence_questions(sets: Sequence[str], split: str, model: Generator, index_root: Path):
    """(set name, pipeline, question, its intent, ranked candidates) for the questions the sentence path answers."""
    for name in sets:
        corpus = (DEFAULT_CORPUS, *CORPORA.get(name, ()))
        settings = Settings(index_dir=index_root / name, corpus=corpus, answer=AnswerSettings(abstain_threshold=1.0))
        pipeline = build(settings, say=lambda _m: None, generator=model).pipeline
        for item in load_dataset(DATA / f"{name}.jsonl"):
            if item.split != split or item.answerable is None:
                continue
            intent = read_intent(item.question, pipeline.subject_words)
            if intent.kind is Kind.FIELD or (intent.kind is Kind.OVERVIEW and not intent.topic):
                continue
            query = reasons_query(retrieval_query(item.question, item.history), intent)
            hits = pipeline.retriever.search(query, pipeline.config.top_k)
            items = select_context(
                reasons_query(item.question, intent),
                hits[: pipeline.config.context_passages],
                pipeline.retriever.index.documents,
                pipeline.retriever.embedder,
                pipeline.vocabulary,
                6,
                query=query,
                header=pipeline.header,
                header_lines=bool(asked_fields(query)) and intent.kind not in (Kind.WHY, Kind.LIST),
            )
            if items:
                yield name, pipeline, item, items


def collect(sets: Sequence[str], split: str, compare: bool, model: Generator, index_root: Path) -> list[Judged]:
    out = []
    for name, _pipeline, item, items in sentence_questions(sets, split, model, index_root):
        earlier = last_user_turn(item.history)
        best = items[:2]
        gold = tuple(any(sentence_holds(it.text, q) for q in item.evidence) for it in items)
        p = tuple(judge(model, answers_messages(item.question, it.text, earlier)) for it in best)
        p_earlier: tuple[float, ...] = ()
        if compare:
            p_earlier = tuple(
                judge(model, prompt_messages(EARLIER_SYSTEM, (), EARLIER_ASK, item.question, it.text, earlier))
                for it in best
            )
        out.append(
            Judged(
                name,
                item,
                tuple(it.text for it in best),
                gold[:2],
                p,
                p_earlier,
                tuple(it.dense for it in best),
                tuple(it.overlap for it in best),
                tuple(it.score for it in best),
                gold,
            )
        )
        print(json.dumps({"set": name, "id": item.id, "p": [round(x, 3) for x in p]}), flush=True)
    return out


def ranking_recall(sets: Sequence[str], split: str, weights: Sequence[float], index_root: Path) -> dict:
    """Candidate recall@k for each weight of the dense similarity in the relevance score (no model asked)."""
    import rag.answer.context

    out = {}
    for weight in weights:
        rag.answer.context.DENSE_WEIGHT = weight
        found: dict[int, list[bool]] = {k: [] for k in (1, 2, 3, 4, 6)}
        for _name, _pipeline, item, items in sentence_questions(sets, split, NoModel(), index_root):
            if not (item.answerable and item.evidence):
                continue
            gold = [any(sentence_holds(it.text, q) for q in item.evidence) for it in items]
            for k in found:
                found[k].append(any(gold[:k]))
        out[str(weight)] = {f"@{k}": round(sum(v) / len(v), 3) for k, v in found.items()}
    return out


def sentence_holds(sentence: str, quote: str) -> bool:
    """The sentence holds the evidence quote, or is itself a good part of a quote longer than one sentence.

    >>> sentence_holds("Camps exist.", "Camps exist. It has not ratified the 2000 UN TIP Protocol.")
    False
    >>> sentence_holds("It has not ratified the 2000 UN TIP Protocol.", "It has not ratified the 2000 UN TIP Protocol")
    True
    """
    s = normalize(sentence)
    return holds(sentence, quote) or (len(s) >= 40 and s in normalize(quote))


def auc_of(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """P(a positive scores above a negative), ties counting half.

    >>> auc_of([0.9, 0.6], [0.5, 0.6])
    0.875
    """
    if not positive or not negative:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in positive for b in negative)
    return wins / (len(positive) * len(negative))


def judge_auc(rows: Sequence[Judged], earlier: bool = False) -> dict[str, float | None]:
    def p(r: Judged) -> tuple[float, ...]:
        return r.p_earlier if earlier else r.p

    answerable = [r for r in rows if r.item.answerable]
    gold = [x for r in answerable for x, g in zip(p(r)[:2], r.gold[:2]) if g]
    other = [x for r in answerable for x, g in zip(p(r)[:2], r.gold[:2]) if not g]
    best = {r.item.id + r.set: max(p(r)[:2]) for r in rows}
    yes = [best[r.item.id + r.set] for r in answerable]
    no = [best[r.item.id + r.set] for r in rows if not r.item.answerable]
    return {"sentence_auc": auc_of(gold, other), "question_auc": auc_of(yes, no)}


def shown(r: Judged, second: float | None, swap: bool) -> tuple[str, list[float]]:
    """The answer text a way of choosing gives, and its signals (in the order of rag.answer.abstain.FEATURES)."""
    first, p1 = 0, r.p[0]
    p2 = r.p[1] if len(r.p) > 1 else 0.0
    chosen = [0]
    if swap and len(r.p) > 1 and p1 < 0.4 and p2 > p1 + 0.1:
        chosen, first, p1, p2 = [1], 1, p2, p1
    elif second is not None and len(r.p) > 1 and p2 >= second:
        chosen.append(1)
    text = " ".join(r.texts[i] for i in chosen)
    signals = {
        "p_answers": p1,
        "p_second": p2,
        "dense": r.dense[first],
        "overlap": r.overlap[first],
        "score": r.score[first],
        "type_match": float(answer_type_matches(r.item.question, r.texts[first])),
        "yes_no": float(read_intent(r.item.question).kind is Kind.YES_NO),
    }
    return text, [signals[f] for f in FEATURES]


def wrong(item: EvalItem, text: str) -> bool:
    if not item.answerable or must_not_hits(text, item.must_not):
        return True
    return must_include_score(text, item.must_include) == 0.0


def policy(rows: Sequence[Judged], second: float | None, swap: bool = False, judged: bool = True) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts, x = zip(*(shown(r, second, swap) for r in rows))
    y = np.array([wrong(r.item, t) for r, t in zip(rows, texts)], dtype=int)
    keep = [i for i, f in enumerate(FEATURES) if judged or f not in ("p_answers", "p_second")]
    z = np.array(x)[:, keep]
    z = (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-9)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    cv = cross_val_predict(LogisticRegression(C=0.1, max_iter=1000), z, y, cv=folds, method="predict_proba")[:, 1]
    scores = [
        0.0 if must_not_hits(t, r.item.must_not) else must_include_score(t, r.item.must_include)
        for r, t in zip(rows, texts)
        if r.item.answerable
    ]
    return {
        "answer_score_without_abstention": round(sum(scores) / len(scores), 3),
        "aurc": round(aurc(list(1 - cv), list(y)), 3),
    }


def report(rows: Sequence[Judged], compare: bool) -> dict:
    answerable = [r for r in rows if r.item.answerable and r.item.evidence]
    recall = {f"@{k}": round(sum(any(r.ranked[:k]) for r in answerable) / len(answerable), 3) for k in (1, 2, 3, 4, 6)}
    out: dict = {"questions": len(rows), "answerable_with_evidence": len(answerable), "candidate_recall": recall}
    out["judge"] = judge_auc(rows)
    if compare:
        out["judge_earlier_wording"] = judge_auc(rows, earlier=True)
    ways = {"first only": policy(rows, None), "runner-up when preferred": policy(rows, None, swap=True)}
    ways |= {f"second when P >= {t}": policy(rows, t) for t in SECOND}
    ways["second when P >= 0.4, without the model's judgements"] = policy(rows, 0.4, judged=False)
    out["ways"] = ways
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--split", default="dev", choices=("dev", "held"))
    parser.add_argument("--compare-prompts", action="store_true", help="also judge with the earlier wording")
    parser.add_argument("--weights", help="comma-separated dense weights: measure the ranking alone")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/choice.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import tempfile

    if args.weights:
        with tempfile.TemporaryDirectory(prefix="rag-bench-choice-") as tmp:
            weights = [float(w) for w in args.weights.split(",")]
            print(json.dumps(ranking_recall(args.sets.split(","), args.split, weights, Path(tmp)), indent=1))
        return
    with tempfile.TemporaryDirectory(prefix="rag-bench-choice-") as tmp:
        model = make_generator(Settings(index_dir=Path(tmp) / "x"), say=lambda _m: None)
        rows = collect(args.sets.split(","), args.split, args.compare_prompts, model, Path(tmp))
    result = report(rows, args.compare_prompts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
