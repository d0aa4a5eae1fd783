"""Question (+ history) -> a grounded Answer, streamed: the whole pipeline, top to bottom.

1. retrieve passages for the question (a follow-up with the previous user turn prepended);
2. number the candidate sentences of those passages that best match it;
3. let the model choose the sentences that answer (numbers under a grammar), then write a lead;
4. stream the chosen sentences at once, as exact quotes;
5. verify the lead against them (rag.verify): keep it only when every claim is stated there;
6. abstain when the calibrated signals (rag.abstain) say the chosen evidence does not answer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from rag.abstain import AbstainModel, Signals, missing_specifics
from rag.context import ContextItem, select_context
from rag.conversation import asked_in_context, last_user_turn, retrieval_query
from rag.generate import GenerationOptions, Generator, NextTokenScorer
from rag.prompt import NONE, build_messages, evidence_grammar, parse_reply
from rag.retrieve import Filters, Retriever
from rag.schema import Turn, check_question
from rag.settings import AnswerSettings
from rag.types import AbstainReason, Answer, Citation
from rag.verify import Aliases, asks_yes_no, check_reply, read_aliases

ABSTAIN_TEXT = "The report does not answer this question."
QUOTE_INTRO = "The report says:"


@dataclass(frozen=True)
class Pipeline:
    """Everything needed to answer: a retriever, a generator and the corpus statistics."""

    retriever: Retriever
    generator: Generator
    idf: Mapping[str, float]
    config: AnswerSettings
    # The fitted abstention model; the default never abstains on the signals.
    abstain: AbstainModel = field(default_factory=AbstainModel)
    # Reads the model's probability of replying NONE before it writes anything.
    scorer: NextTokenScorer | None = None
    aliases: Aliases | None = None

    def stream(
        self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None
    ) -> Iterator[str | Answer]:
        """Yield the chosen evidence as soon as it is known, then the complete Answer."""
        question = check_question(question, self.config.max_question_chars)
        started = time.perf_counter()
        query = retrieval_query(question, history)
        # A follow-up is retrieved with the previous user turn prepended: on our follow-ups that
        # found the evidence more often than the question alone or both rankings fused
        # (`rag eval followups`).
        hits = self.retriever.search(query, self.config.top_k, filters)
        documents = self.retriever.index.documents
        candidates = select_context(
            question,
            hits[: self.config.context_passages],
            documents,
            self.retriever.embedder,
            self.idf,
            self.config.context_sentences,
            query=query,
        )
        timings: dict[str, float] = {"retrieve_s": round(time.perf_counter() - started, 4)}
        missing = missing_specifics(question, hits)
        if not candidates or missing:
            yield ABSTAIN_TEXT
            reason = AbstainReason.NOT_MENTIONED if missing else AbstainReason.NO_PASSAGE
            yield _abstain(question, hits, timings, started, reason, detail=", ".join(missing))
            return
        # The best match goes last, next to the question: the 1.5B model leans to the sentence it read
        # last, and that way its lean and the retrieval's ranking agree.
        ranked = candidates[::-1] if self.config.best_last else candidates
        items = tuple(replace(it, n=n) for n, it in enumerate(ranked, start=1))
        messages = build_messages(question, items, last_user_turn(history))
        p_none, p_top = 0.0, 1.0
        if self.scorer is not None:
            # The first token's distribution over NONE and the sentence numbers (the prompt is read once).
            none = self.scorer.next_token_probability(messages, [NONE])
            each = [self.scorer.next_token_probability(messages, [str(i)]) for i in range(1, min(len(items), 9) + 1)]
            total = none + sum(each)
            if total > 0:
                p_none, p_top = none / total, max(each) / total
        options = GenerationOptions(max_tokens=self.config.max_answer_tokens, grammar=evidence_grammar(len(items)))
        reply_text = ""
        shown = False
        pieces = 0
        for piece in self.generator.generate(messages, options):
            reply_text += piece
            pieces += 1
            if not shown and "\n" in reply_text:
                shown = True
                chosen = [items[n - 1] for n in parse_reply(reply_text, len(items)).chosen]
                if chosen:
                    timings["first_token_s"] = round(time.perf_counter() - started, 4)
                    yield quotes_text(chosen)
        timings["generate_s"] = round(time.perf_counter() - started - timings["retrieve_s"], 4)
        timings["tokens"] = pieces
        timings["p_none"] = round(p_none, 4)
        yield self.finish(
            question, reply_text, items, hits, timings, started, p_none, p_top, asked_in_context(question, history)
        )

    @functools.cached_property
    def known_aliases(self) -> Aliases:
        """The given aliases, or those read once from the index (not on every answer)."""
        return self.aliases or read_aliases(self.retriever.index.documents.values())

    def answer(self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None) -> Answer:
        """The complete Answer, without streaming."""
        final: Answer | None = None
        for event in self.stream(question, history, filters):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def finish(
        self,
        question: str,
        reply_text: str,
        items: Sequence[ContextItem],
        hits,
        timings: dict[str, float],
        started: float,
        p_none: float,
        p_top: float = 1.0,
        asked: str = "",
    ) -> Answer:
        """Verify the lead against the chosen sentences; compose the answer, or abstain.

        `asked` is the question in its conversation (a follow-up that points back, with the previous
        question before it): what the evidence must be about for the lead to be shown as the answer.
        """
        reply = parse_reply(reply_text, len(items))
        if not reply.chosen:
            return _abstain(question, hits, timings, started, AbstainReason.NO_EVIDENCE, reply_text)
        chosen = [items[n - 1] for n in reply.chosen]
        checked = check_reply(question, asked or question, reply, items, self.known_aliases)
        evidence = checked.evidence
        # "Supported" vouches that the cited sentence states the answer shown and is about the
        # question. A quote shown in place of a lead that failed is the report's own words, but
        # nothing verified that it answers.
        citations = [
            Citation(n, it.chunk, it.text, it.start, it.end, supported=checked.supported)
            for n, it in enumerate(evidence, start=1)
        ]
        signals = Signals(
            p_none=p_none,
            p_top=p_top,
            agree=bool(checked.lead) and evidence[0] in chosen,
            top_dense=max((it.dense for it in items), default=0.0),
            chosen_dense=evidence[0].dense,
            chosen_overlap=evidence[0].overlap,
            chosen_rank=items.index(evidence[0]) + 1,
            lead_verified=bool(checked.lead),
            lead_none=reply.lead.strip().upper().startswith(NONE),
            yes_no=asks_yes_no(question),
            on_question=checked.on_question.supported,
        )
        p_wrong = self.abstain.wrong_probability(signals)
        values = {**signals.as_dict(), "p_wrong": round(p_wrong, 4)}
        if p_wrong >= self.abstain.threshold:
            reason, detail = AbstainReason.UNLIKELY, f"(p={p_wrong:.2f})"
            return _abstain(question, hits, timings, started, reason, reply_text, values, detail)
        text = compose(checked.shown, tuple(range(1, len(citations) + 1)) if checked.shown else (), citations)
        timings["total_s"] = round(time.perf_counter() - started, 4)
        return Answer(question, text, False, tuple(citations), tuple(hits), timings, draft=reply_text, signals=values)


def quotes_text(chosen: Sequence[ContextItem]) -> str:
    """The chosen sentences as numbered exact quotes: 'The report says: “…” [1] “…” [2]'."""
    return " ".join([QUOTE_INTRO] + [f"\u201c{it.text.strip()}\u201d [{n}]" for n, it in enumerate(chosen, start=1)])


def compose(lead: str, lead_cites: Sequence[int], citations: Sequence[Citation]) -> str:
    """A verified lead with its markers, then the quotes that back it.

    >>> from rag.types import Chunk
    >>> c = Citation(1, Chunk("c", "d", "x", 0, 1, 1), "Tier 3.", 0, 7, True)
    >>> compose("It is on Tier 3.", (1,), [c])
    'It is on Tier 3 [1]. The report says: “Tier 3.” [1]'
    """
    quotes = " ".join([QUOTE_INTRO] + [f"\u201c{c.quote.strip()}\u201d [{c.n}]" for c in citations])
    if not lead:
        return quotes
    marks = "".join(f" [{n}]" for n in lead_cites)
    body = lead.rstrip()
    body = f"{body[:-1]}{marks}{body[-1]}" if body[-1] in ".!?" else f"{body}{marks}."
    return f"{body} {quotes}"


def _abstain(
    question: str,
    hits,
    timings: dict[str, float],
    started: float,
    reason: AbstainReason,
    draft: str = "",
    signals: Mapping[str, float] | None = None,
    detail: str = "",
) -> Answer:
    timings["total_s"] = round(time.perf_counter() - started, 4)
    return Answer(
        question,
        ABSTAIN_TEXT,
        True,
        (),
        tuple(hits),
        timings,
        abstain_reason=reason,
        abstain_detail=detail,
        draft=draft,
        signals=dict(signals or {}),
    )
