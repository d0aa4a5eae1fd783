"""Metric functions on hand-built predictions with known answers."""

import pytest

from eval.dataset import EvalItem
from eval.judge import LexicalJudge
from eval.metrics import aggregate, must_include_score, score_prediction

DOC = "Intro line.\n\nArticle 50 criminalizes the sale of children. There were no reported prosecutions."
DOCS = {"d": DOC}
Q1 = EvalItem(
    id="a",
    question="What does Article 50 criminalize?",
    answerable=True,
    type="fact",
    answer="The sale of children.",
    must_include=(("child",), ("sale", "trafficking")),
    evidence=("Article 50 criminalizes the sale of children",),
)
Q2 = EvalItem(id="b", question="What is the population?", answerable=False, type="unanswerable")


def passage(rank, start, end):
    return {
        "rank": rank,
        "chunk_id": f"c{rank}",
        "doc_id": "d",
        "title": "T",
        "text": DOC[start:end],
        "start": start,
        "end": end,
        "score": 1.0 / rank,
    }


def citation(n, start, end, quote_start=None, quote_end=None):
    qs, qe = quote_start if quote_start is not None else start, quote_end if quote_end is not None else end
    return {
        "n": n,
        "chunk_id": "c",
        "doc_id": "d",
        "title": "T",
        "text": DOC[start:end],
        "quote": DOC[qs:qe],
        "quote_start": qs,
        "quote_end": qe,
        "supported": True,
    }


ART = (DOC.index("Article"), DOC.index("children.") + len("children."))
PERFECT = {
    "id": "a",
    "question": Q1.question,
    "abstained": False,
    "answer": "Article 50 criminalizes the sale of children [1].",
    "citations": [citation(1, *ART)],
    "passages": [passage(1, *ART), passage(2, 0, 11)],
    "timings": {"first_token_s": 1.0, "total_s": 3.0, "tokens": 20},
}


def abstention(item: EvalItem) -> dict:
    """The prediction of a run that abstained on `item`."""
    return {
        "id": item.id,
        "question": item.question,
        "abstained": True,
        "answer": "The report does not answer this.",
        "citations": [],
        "passages": [passage(1, 0, 11)],
        "timings": {"total_s": 0.5},
    }


ABSTAIN_A = abstention(Q1)
ABSTAIN_B = abstention(Q2)
ANSWER_B = {
    "id": "b",
    "question": Q2.question,
    "abstained": False,
    "answer": "About 25 million people live there [1].",
    "citations": [citation(1, 0, 11)],
    "passages": [passage(1, 0, 11)],
    "timings": {"total_s": 4.0},
}


def run(*pairs):
    judge = LexicalJudge().supports
    return aggregate([score_prediction(item, pred, DOCS, judge) for item, pred in pairs])


def test_must_include_counts_groups():
    assert must_include_score("The SALE of a child", [["child"], ["sale", "x"], ["nothing"]]) == pytest.approx(2 / 3)


def test_a_perfect_system_scores_one():
    m = run((Q1, PERFECT), (Q2, ABSTAIN_B))
    for key in (
        "answer_score",
        "abstention_accuracy",
        "evidence_cited",
        "citation_recall",
        "citation_precision",
        "quote_validity",
        "recall@1",
        "mrr",
    ):
        assert m[key] == 1.0, key
    assert m["false_abstention"] == 0.0
    assert m["total_s_median"] == pytest.approx(1.75)
    assert m["first_content_s_median"] == pytest.approx(1.0)  # no sources timed: the first text (one answered)


def test_always_abstaining_scores_zero_on_answers_and_one_on_abstention():
    m = run((Q1, ABSTAIN_A), (Q2, ABSTAIN_B))
    assert m["answer_score"] == 0.0
    assert m["false_abstention"] == 1.0
    assert m["abstention_accuracy"] == 1.0
    assert m["evidence_cited"] is None  # nothing was answered
    assert m["citation_recall"] is None


def test_answering_an_unanswerable_question_is_caught():
    m = run((Q1, PERFECT), (Q2, ANSWER_B))
    assert m["abstention_accuracy"] == 0.0
    assert m["citation_precision"] == 0.5  # the invented population figure is not in its cited passage


def test_wrong_citation_and_bad_offsets_are_caught():
    wrong = dict(PERFECT, citations=[citation(1, 0, 11, quote_start=1, quote_end=12)])
    m = run((Q1, wrong))
    assert m["evidence_cited"] == 0.0
    assert m["citation_recall"] == 0.0
    assert m["quote_validity"] == 1.0
    bad = dict(PERFECT, citations=[dict(citation(1, *ART), quote="Article 50 criminalizes")])
    assert run((Q1, bad))["quote_validity"] == 0.0


def test_retrieval_rank_of_evidence():
    late = dict(PERFECT, passages=[passage(1, 0, 11), passage(2, *ART)])
    m = run((Q1, late))
    assert (m["recall@1"], m["recall@3"], m["mrr"]) == (0.0, 1.0, 0.5)
