"""Deterministic fakes and small helpers for tests."""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.settings import DEFAULT_CORPUS, Settings

REPORT_PATH = DEFAULT_CORPUS / "tip-2007-north-korea.txt"
# Openings of other countries' narratives of the same report, kept for the multi-report question set.
REPORTS = Path(__file__).resolve().parents[1] / "eval" / "data" / "reports"


class HashEmbedder:
    """Hashed bag of words: texts sharing more words have a higher cosine similarity.

    No model and deterministic: the tests' embedder, and the benchmarks' where a build is timed
    without the cost of embedding.
    """

    def __init__(self, dim: int = 512, name: str = "fake-hash") -> None:
        self.dim = dim
        self.name = name
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[row, _bucket(word, self.dim)] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    @property
    def embedded_texts(self) -> int:
        return sum(len(c) for c in self.calls)


@functools.cache
def _bucket(word: str, dim: int) -> int:
    """The vector component a word counts in; cached, as a corpus repeats its words."""
    return int(hashlib.md5(word.encode()).hexdigest(), 16) % dim


def write(folder: Path, name: str, text: str | bytes) -> Path:
    """Create a file under `folder` (bytes written as-is)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


class ScriptedGenerator:
    """Replies from a script, in small pieces, and records every prompt it was given."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict]] = []
        self.options: list = []

    def generate(self, messages, options):
        self.prompts.append(list(messages))
        self.options.append(options)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        for i in range(0, len(reply), 7):
            yield reply[i : i + 7]

    @property
    def last_user_message(self) -> str:
        return self.prompts[-1][-1]["content"]


class JudgingModel(ScriptedGenerator):
    """Judges as the answer stage asks the model to: a sentence answers when it holds `fragment` (or one
    of several) (P(Yes) 0.9, else 0.1), and a yes/no question is answered `polarity` ("yes" or "no").

    It reads probabilities (`next_token_probability`) like the llama.cpp backend, and replies Yes or
    No when asked to generate; every prompt is recorded.
    """

    def __init__(self, fragment: str | tuple[str, ...], polarity: str = "no") -> None:
        super().__init__("")
        self.fragments = (fragment,) if isinstance(fragment, str) else fragment
        self.polarity = polarity

    def p_yes(self, messages) -> float:
        from rag.answer.relevance import ANSWERS_ASK, POLARITY_ASK

        prompt = messages[-1]["content"]
        if prompt.endswith(POLARITY_ASK):
            return 0.9 if self.polarity == "yes" else 0.1
        assert prompt.endswith(ANSWERS_ASK), prompt
        sentence = prompt.rsplit("Sentence: ", 1)[1]
        return 0.9 if any(f and f in sentence for f in self.fragments) else 0.1

    def next_token_probability(self, messages, words) -> float:
        self.prompts.append(list(messages))
        p = self.p_yes(messages)
        return p if words[0].strip().lower() == "yes" else 1.0 - p

    def generate(self, messages, options):
        self.prompts.append(list(messages))
        self.options.append(options)
        yield "Yes" if self.p_yes(messages) >= 0.5 else "No"


class HeldGenerator:
    """Starts answering, then holds until the test opens `gate`; records the questions in arrival order
    (one entry per question: the model is asked about several sentences of each)."""

    def __init__(self, reply: str = "Yes", limit_s: float = 60) -> None:
        self.reply = reply
        self.limit_s = limit_s
        self.gate = threading.Event()
        self.started = threading.Event()
        self.order: list[str] = []

    def generate(self, messages, options):
        question = messages[-1]["content"].split("\n")[0]
        if not self.order or self.order[-1] != question:
            self.order.append(question)
        self.started.set()
        if not self.gate.wait(timeout=self.limit_s):
            raise RuntimeError("the test never let the answer finish")
        yield self.reply


def assert_exact_ordered_chunks(doc, chunks, max_chars: int) -> None:
    """Each chunk is its document's text at its offsets, trimmed and within `max_chars`; chunks come in order."""
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.text and not c.text[0].isspace() and not c.text[-1].isspace()
        assert len(c.text) <= max_chars
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def uncovered(doc, chunks) -> list[int]:
    """Offsets of non-space characters inside the document's spans that no chunk covers."""
    covered = bytearray(len(doc.text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    return [i for s, e in doc.spans for i in range(s, e) if not covered[i] and not doc.text[i].isspace()]


def wait_until(condition, what: str, limit_s: float = 20.0) -> None:
    """Poll `condition` until true; fails the test after `limit_s` seconds."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def install_part_packages(site: Path, prefix: str, pieces: Sequence[bytes]) -> None:
    """Write importable packages `{prefix}1..N` under `site`, each shipping one piece via `get_part_path()`."""
    for n, data in enumerate(pieces, start=1):
        pkg = site / f"{prefix}{n}"
        pkg.mkdir(parents=True)
        (pkg / "part.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "from pathlib import Path\ndef get_part_path():\n    return Path(__file__).parent / 'part.bin'\n"
        )


def forget_part_packages(prefix: str, count: int) -> None:
    for n in range(1, count + 1):
        sys.modules.pop(f"{prefix}{n}", None)


# --- pipelines made of fakes, built the way the product builds its own (app.build) ----------------

PRISON_QUESTION = "What work are prison camp inmates forced to do?"
# The end of the sentence that answers PRISON_QUESTION.
PRISON_QUOTE = "subjected to reeducation through labor by logging, mining, and tending crops."
# A second report whose title and text try to run script; the page must show them as text.
EVIL_TITLE = 'Evil <img src=x onerror="window.__pwned = 1"> report'
EVIL_TEXT = f"{EVIL_TITLE}\n\nIt says <script>window.__pwned = 2</script> about tunnels and <b>bold</b> claims."


def fake_settings(index_dir: Path, **values) -> Settings:
    """Settings for a test: its own index folder; the fitted abstention model neither abstains nor
    withholds Supported unless told to (its weights were fitted on the real model's judgements)."""
    return Settings(**{"index_dir": index_dir, "abstain_threshold": 1.0, "support_threshold": 1.0, **values})


def fake_build(settings: Settings, generator, embedder=None, index=None):
    """The product as app.build builds it from `settings`, with fake models (a str is a scripted reply)."""
    from app.build import build

    if isinstance(generator, str):
        generator = ScriptedGenerator(generator)
    return build(settings, say=lambda _m: None, embedder=embedder or HashEmbedder(), generator=generator, index=index)


def fake_pipeline_over(index, generator, embedder=None, **values):
    """The pipeline over an index already built, with fake models (a str is a scripted reply)."""
    return fake_build(fake_settings(index.path, **values), generator, embedder, index).pipeline


def fake_pipeline(folder: Path, *replies: str):
    """The shipped report plus an adversarial one, a hashed embedder and a scripted (or choosing) generator."""
    docs = folder / "docs"
    write(docs, "evil.txt", EVIL_TEXT)
    generator = ScriptedGenerator(*replies) if replies else JudgingModel("logging, mining")
    return fake_build(fake_settings(folder / "idx", corpus=(docs, REPORT_PATH)), generator).pipeline


# --- slow, timed and stand-in models (tests and bench) ----------------------------------------------


class SlowEmbedder(HashEmbedder):
    """The hashed embedder, `delay` seconds per call (settable while it runs, so indexing shows progress)."""

    def __init__(self, delay: float = 0.05, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay = delay

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().embed(texts)


class PrecomputedEmbedder:
    """Returns vectors computed beforehand for known texts, so timings leave the model out."""

    def __init__(self, texts: list[str], vectors: np.ndarray, name: str, dim: int) -> None:
        self._rows = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors
        self.name = name
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors[[self._rows[t] for t in texts]]


class SlowJudge:
    """Takes `seconds` over every judgement and answers `reply`, so a page can be seen before the answer."""

    def __init__(self, seconds: float = 1.0, reply: str = "Yes") -> None:
        self.seconds = seconds
        self.reply = reply

    def generate(self, messages, options):
        time.sleep(self.seconds)
        yield self.reply


class TurnTakingGenerator:
    """Judges by whichever topic its prompt is about, slowly, and counts overlapping generations."""

    def __init__(self) -> None:
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()

    def generate(self, messages, options):
        prompt = messages[-1]["content"]
        question, sentence = prompt.split("\nSentence: ", 1)
        about_inmates = "inmates" in question.lower()
        reply = "Yes" if about_inmates == ("logging, mining" in sentence) else "No"
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            for word in reply.split(" "):
                time.sleep(0.02)
                yield word + " "
        finally:
            with self.lock:
                self.active -= 1


class QuotingGenerator:
    """Waits `seconds`, then chooses the first candidate sentence of its prompt and repeats it as the lead."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def generate(self, messages, options):
        prompt = messages[-1]["content"]
        first = next((line[4:] for line in prompt.splitlines() if line.startswith("[1] ")), "")
        reply = f"1\n{first}" if first else "NONE"
        pieces = reply.split(" ")
        for piece in pieces:
            time.sleep(self.seconds / len(pieces))
            yield piece + " "


class NoModel:
    """Stands for the model where only the ranking is measured; it is never asked."""

    def generate(self, messages, options):
        raise AssertionError("the ranking needs no model")
