"""Hits -> the sentences an answer may quote, ranked by how well each matches the question.

Every sentence of the retrieved passages is a candidate, and so is every header line of their
reports (title, publisher, author, date, tier), matched by what it is ("publisher", "tier") as well
as by what it says. A sentence's relevance is mostly its own match with the question: its dense
similarity, and the share of the question's distinctive words it contains, a word typed with a slip
("traffiking") or a shorter form ("child" for "children") counting as found.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from embeddings.encoder import Embedder
from rag.ingest.fields import HeaderLine
from rag.ingest.sentences import sentences
from rag.language import FIELD_WORDS
from rag.text import content_words
from rag.types import Chunk, Document, Hit

# Relevance = DENSE_WEIGHT x dense similarity + (1 - DENSE_WEIGHT) x word overlap + RANK_BONUS / passage rank.
# On the dev rows of the six question sets (200 answerable questions; `python -m bench.choice --weights
# 0.4,0.5,0.6,0.7`), a sentence holding the evidence ranked first for 0.705 / 0.695 / 0.71 / 0.70 of them
# and among the first two for 0.83 / 0.825 / 0.82 / 0.815: the weight matters little.
DENSE_WEIGHT = 0.6
# A small tie-breaker in favour of the better-ranked passage; chosen by hand, not tuned.
RANK_BONUS = 0.02
# Two stems this similar (difflib's ratio) are one word typed twice ("traffik" for "traffick"); shorter words
# are not corrected. Both chosen by hand (difflib's own default cutoff is 0.6); not tuned.
TYPO_RATIO = 0.8
MIN_TYPO_LEN = 4
# A misspelling is looked for among the corpus stems at most this many letters longer or shorter; chosen by hand.
TYPO_LENGTH_GAP = 2
# Misspelling corrections remembered per index (functools' LRU cache); a size chosen by hand.
CORRECTIONS_CACHED = 4096
# A candidate sentence has at least this many words; shorter lines are headings. Chosen by hand; not tuned.
MIN_WORDS = 4
# A follow-up's dense match: this much its own words, the rest the question with its conversation. An even
# mix, chosen by hand; not tuned.
FOLLOW_UP_OWN_WEIGHT = 0.5
# The IDF's smoothing, log((N + 1) / (df + IDF_SMOOTHING)): a word found in every text keeps a small
# positive weight. Chosen by hand; not tuned.
IDF_SMOOTHING = 0.5


@dataclass(frozen=True)
class ContextItem:
    """One candidate: an exact span of a document, the passage it lies in, and how well it matches.

    `field` names the header field when the candidate is a header line ("tier", "publisher").
    """

    n: int
    chunk: Chunk
    start: int
    end: int
    text: str
    dense: float
    overlap: float
    score: float = 0.0
    field: str = ""


class Vocabulary:
    """The corpus's word stems with their IDF, and the correction of a question's misspelt words.

    >>> v = Vocabulary({"traffick": 1.0, "govern": 2.0, "child": 3.0})
    >>> v.known(["traffik", "gover", "xyz"])
    ['traffick', 'govern', 'xyz']
    """

    def __init__(self, idf: Mapping[str, float]) -> None:
        self.idf = idf
        self.default = max(idf.values(), default=1.0)
        by_start: dict[str, list[str]] = {}
        for stem in idf:
            by_start.setdefault(stem[:1], []).append(stem)
        self._by_start = by_start

    def known(self, words: Iterable[str]) -> list[str]:
        """Each word, or the corpus stem it misspells."""
        return [self._nearest(w) for w in words]

    @functools.lru_cache(maxsize=CORRECTIONS_CACHED)  # noqa: B019 - one Vocabulary per index, kept for the process
    def _nearest(self, word: str) -> str:
        if word in self.idf or len(word) < MIN_TYPO_LEN or word.isdigit():
            return word
        pool = [s for s in self._by_start.get(word[:1], ()) if abs(len(s) - len(word)) <= TYPO_LENGTH_GAP]
        close = difflib.get_close_matches(word, pool, n=1, cutoff=TYPO_RATIO)
        return close[0] if close else word

    def weight(self, word: str) -> float:
        return self.idf.get(word, self.default)


def same_word(a: str, b: str) -> bool:
    """Equal stems, or one a longer form of the other ("child" and "children").

    >>> same_word("child", "children"), same_word("tier", "tiers"), same_word("art", "article")
    (True, True, False)
    """
    return a == b or (min(len(a), len(b)) >= MIN_TYPO_LEN and (a.startswith(b) or b.startswith(a)))


def word_overlap(question_words: Sequence[str], text: str, vocabulary: Vocabulary) -> float:
    """IDF-weighted share of the question's words found in `text`.

    >>> v = Vocabulary({"camp": 1.0, "prison": 1.0, "food": 2.0})
    >>> word_overlap(["prison", "camp", "food"], "Prison camps exist.", v)
    0.5
    """
    words = set(content_words(text))
    total = sum(vocabulary.weight(w) for w in question_words) or 1.0
    found = sum(vocabulary.weight(w) for w in question_words if any(same_word(w, x) for x in words))
    return found / total


def select_context(
    question: str,
    hits: Sequence[Hit],
    documents: Mapping[str, Document],
    embedder: Embedder,
    vocabulary: Vocabulary,
    max_items: int,
    query: str = "",
    header: Mapping[str, Sequence[HeaderLine]] | None = None,
    header_lines: bool = True,
) -> tuple[ContextItem, ...]:
    """The `max_items` sentences (or header lines) of the hit passages' reports that best match the question.

    Word overlap is measured against the question itself; the dense match averages
    the question and `query` (the question with its conversation, for follow-ups). Without
    `header_lines`, the reports' header lines are no candidates at all.
    """
    candidates = _candidates(hits, documents, header or {}, header_lines)
    if not candidates:
        return ()
    texts = [c.match for c in candidates]
    if query and query != question:
        # A follow-up: its own words say what is asked, the conversation what about.
        vectors = embedder.embed([question, query, *texts])
        dense = FOLLOW_UP_OWN_WEIGHT * (vectors[2:] @ vectors[0]) + (1 - FOLLOW_UP_OWN_WEIGHT) * (
            vectors[2:] @ vectors[1]
        )
    else:
        vectors = embedder.embed([question, *texts])
        dense = vectors[1:] @ vectors[0]
    asked_stems = list(dict.fromkeys(vocabulary.known(content_words(question))))
    items = []
    for c, d in zip(candidates, dense):
        word_share = word_overlap(asked_stems, c.match, vocabulary)
        score = DENSE_WEIGHT * float(d) + (1 - DENSE_WEIGHT) * word_share + RANK_BONUS / c.rank
        items.append(ContextItem(0, c.chunk, c.start, c.end, c.text, float(d), word_share, score, c.field))
    order = np.argsort(-np.asarray([it.score for it in items]), kind="stable")[:max_items]
    return tuple(_numbered(items[i], n) for n, i in enumerate(order, start=1))


def _numbered(item: ContextItem, n: int) -> ContextItem:
    return replace(item, n=n)


@dataclass(frozen=True)
class _Candidate:
    chunk: Chunk
    start: int
    end: int
    text: str
    match: str  # what the question is matched against
    rank: int
    field: str = ""


def _candidates(
    hits: Sequence[Hit],
    documents: Mapping[str, Document],
    header: Mapping[str, Sequence[HeaderLine]],
    header_lines: bool = True,
) -> list[_Candidate]:
    """Sentences of the hits in rank order, then the header lines of their reports, each span once.

    A line of fewer than MIN_WORDS words is a heading, not a statement: it is no candidate, unless
    it is a header line (a tier heading states the tier).
    """
    lines = [line for doc_id in dict.fromkeys(h.chunk.doc_id for h in hits) for line in header.get(doc_id, ())]
    taken = {(line.chunk.doc_id, line.start, line.end) for line in lines}
    seen: set[tuple[str, int, int]] = set()
    out: list[_Candidate] = []
    for hit in hits:
        doc = documents[hit.chunk.doc_id]
        for s, e in sentences(doc.text, hit.chunk.start, hit.chunk.end):
            key = (doc.doc_id, s, e)
            inside_header = any(d == doc.doc_id and ls <= s and e <= le for d, ls, le in taken)
            if key not in seen and not inside_header and len(doc.text[s:e].split()) >= MIN_WORDS:
                seen.add(key)
                out.append(_Candidate(hit.chunk, s, e, doc.text[s:e], doc.text[s:e], hit.rank))
    for line in lines if header_lines else ():
        text = documents[line.chunk.doc_id].text[line.start : line.end]
        described = ", ".join(FIELD_WORDS[f.name] for f in line.fields)
        out.append(
            _Candidate(
                line.chunk, line.start, line.end, text, f"{described}: {text}", len(hits) + 1, line.fields[0].name
            )
        )
    return out


def idf_table(texts: Sequence[str]) -> dict[str, float]:
    """Inverse document frequency of content words over `texts`: log((N + 1) / (df + IDF_SMOOTHING))."""
    df: dict[str, int] = {}
    for text in texts:
        for w in set(content_words(text)):
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    return {w: math.log((n + 1) / (c + IDF_SMOOTHING)) for w, c in df.items()}
