"""Question (+ history) -> a grounded Answer, streamed: the whole pipeline, top to bottom.

1. retrieve passages for the question (with the previous user turn, for follow-ups);
2. keep the few sentences of those passages that best match it, numbered;
3. let the generator answer from them, one `[n]` per sentence (optionally grammar-enforced);
4. check every sentence against its source and repair or flag citations;
5. abstain when the question asks about numbers no passage mentions, when the
   model says NONE, or when no sentence of its answer is supported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.abstain import grounded, lacks_quantity, missing_specifics, refused, restates
from rag.cite import resolve, split_claims
from rag.context import Context, select_context
from rag.conversation import last_user_turn, retrieval_query
from rag.generate import GenerationOptions, Generator, NextTokenScorer
from rag.prompt import NONE, answer_grammar, build_messages
from rag.retrieve import Retriever
from rag.types import Answer

ABSTAIN_TEXT = "The report does not answer this question."


class QuestionError(ValueError):
    """A question that cannot be asked as it is (empty, too long); the message says why."""


@dataclass(frozen=True)
class AnswerConfig:
    top_k: int = 10  # passages retrieved and listed
    context_passages: int = 5  # of those, how many feed the prompt
    max_sources: int = 3  # sentences in the prompt
    max_tokens: int = 80
    max_question_chars: int = 2000
    # Drop sentences whose citations fail the support check (else keep them, flagged).
    drop_unsupported: bool = False
    # Abstain when the model's probability of replying NONE reaches this (1.0: never on this ground).
    none_threshold: float = 0.1
    # Force the answer's shape with a grammar (every sentence ends with a valid [n]).
    grammar: bool = False


@dataclass(frozen=True)
class Pipeline:
    """Everything needed to answer: a retriever, a generator and the corpus statistics."""

    retriever: Retriever
    generator: Generator
    idf: Mapping[str, float]
    config: AnswerConfig = field(default_factory=AnswerConfig)
    # Reads the model's probability of replying NONE before it writes anything.
    scorer: NextTokenScorer | None = None

    def stream(
        self, question: str, history: Sequence[Any] = (), filters: Mapping[str, str] | None = None
    ) -> Iterator[str | Answer]:
        """Yield the answer text as it is generated, then the complete Answer."""
        question = check_question(question, self.config.max_question_chars)
        started = time.perf_counter()
        query = retrieval_query(question, history)
        hits = self.retriever.search(query, self.config.top_k, filters)
        context = select_context(
            question,
            hits[: self.config.context_passages],
            self.retriever.index.documents,
            self.retriever.embedder,
            self.idf,
            self.config.max_sources,
            query=query,
        )
        timings = {"retrieve_s": round(time.perf_counter() - started, 4)}
        missing = missing_specifics(question, hits)
        if not context.items or missing:
            yield ABSTAIN_TEXT
            reason = f"no passage mentions {', '.join(missing)}" if missing else "no passage matched"
            yield _abstain(question, hits, timings, started, reason)
            return
        messages = build_messages(question, context.items, last_user_turn(history))
        if self.scorer is not None:
            p_none = self.scorer.next_token_probability(messages, [NONE])
            timings["p_none"] = round(p_none, 4)
            if p_none >= self.config.none_threshold:
                yield ABSTAIN_TEXT
                yield _abstain(question, hits, timings, started, f"the model would reply NONE (p={p_none:.2f})")
                return
        grammar = answer_grammar(len(context.items)) if self.config.grammar else None
        options = GenerationOptions(max_tokens=self.config.max_tokens, grammar=grammar)
        draft = ""
        pieces = 0
        for piece in self.generator.generate(messages, options):
            if not draft:
                timings["first_token_s"] = round(time.perf_counter() - started, 4)
            draft += piece
            pieces += 1
            yield piece
        timings["generate_s"] = round(time.perf_counter() - started - timings["retrieve_s"], 4)
        timings["tokens"] = pieces
        answer = self.finish(question, draft, context, hits, timings, started)
        yield answer

    def answer(self, question: str, history: Sequence[Any] = (), filters: Mapping[str, str] | None = None) -> Answer:
        """The complete Answer, without streaming."""
        final: Answer | None = None
        for event in self.stream(question, history, filters):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def finish(self, question, draft, context: Context, hits, timings, started) -> Answer:
        """Check the drafted answer against its sources; abstain when nothing in it is supported."""
        if refused(draft, NONE):
            return _abstain(question, hits, timings, started, "the model found no answer in the sources", draft)
        resolved, citations = resolve(split_claims(draft), context.items, self.retriever.index.documents, question)
        if not grounded(citations):
            return _abstain(question, hits, timings, started, "no sentence of the draft is supported", draft)
        if restates(question, [claim.text for claim, cites in resolved if any(c.supported for c in cites)]):
            return _abstain(question, hits, timings, started, "the draft only restates the question", draft)
        if lacks_quantity(question, draft):
            return _abstain(question, hits, timings, started, "the question asks for an amount the draft lacks", draft)
        sentences = []
        for claim, cites in resolved:
            ok = bool(cites) and all(c.supported for c in cites)
            # A sentence no source shares a word with cannot even be flagged: it never reaches the reader.
            if not cites or (self.config.drop_unsupported and not ok):
                continue
            marks = "".join(f" [{c.n}]" for c in cites)
            sentences.append(_with_marks(drop_contradicted_yes(claim.text), marks))
        text = " ".join(sentences)
        final_citations = [c for c in citations if f"[{c.n}]" in text]
        timings["total_s"] = round(time.perf_counter() - started, 4)
        return Answer(question, text, False, tuple(final_citations), tuple(hits), timings, draft=draft)


def check_question(question: str, limit: int) -> str:
    """The question, stripped of control characters and surrounding space, or QuestionError."""
    cleaned = "".join(ch for ch in question if ch.isprintable() or ch in "\n\t").strip()
    if not cleaned:
        raise QuestionError("the question is empty; type a question about the report")
    if len(cleaned) > limit:
        raise QuestionError(f"the question has {len(cleaned)} characters; the limit is {limit}")
    return cleaned


def _abstain(question: str, hits, timings: dict[str, float], started: float, reason: str, draft: str = "") -> Answer:
    timings["total_s"] = round(time.perf_counter() - started, 4)
    return Answer(question, ABSTAIN_TEXT, True, (), tuple(hits), timings, abstain_reason=reason, draft=draft)


_YES = re.compile(r"^yes\s*,\s*", re.IGNORECASE)
_NEGATION_CUE = re.compile(r"\b(?:not|no|never|none|nor)\b|n't\b", re.IGNORECASE)


def drop_contradicted_yes(sentence: str) -> str:
    """Drop a leading "Yes," that the rest of the sentence negates (a slip of small models).

    >>> drop_contradicted_yes("Yes, North Korea has not ratified the protocol.")
    'North Korea has not ratified the protocol.'
    >>> drop_contradicted_yes("Yes, it ratified the protocol.")
    'Yes, it ratified the protocol.'
    """
    m = _YES.match(sentence)
    if m and _NEGATION_CUE.search(sentence[m.end() :]):
        rest = sentence[m.end() :]
        return rest[:1].upper() + rest[1:]
    return sentence


def _with_marks(text: str, marks: str) -> str:
    """Put markers before the sentence's final punctuation: 'It is so.' + ' [1]' -> 'It is so [1].'"""
    if text and text[-1] in ".!?":
        return f"{text[:-1]}{marks}{text[-1]}"
    return f"{text}{marks}."
