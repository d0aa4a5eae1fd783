"""The answer service's line: one answer at a time, first come first served, bounded in length and wait."""

import threading
import time
from dataclasses import replace

import pytest

from tests.fakes import PRISON_QUESTION, HeldGenerator, fake_pipeline, wait_until
from ui.service import AnswerService, Busy, TurnQueue

OTHER_QUESTION = "Which European country ended its program for North Korean workers?"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return fake_pipeline(tmp_path_factory.mktemp("service"))


def gated_service(pipeline, max_waiting: int, timeout_s: float = 30.0) -> tuple[AnswerService, HeldGenerator]:
    generator = HeldGenerator(limit_s=30)
    return AnswerService(replace(pipeline, generator=generator), max_waiting, timeout_s), generator


def in_thread(service: AnswerService, question: str, results: dict, key: object) -> threading.Thread:
    def run() -> None:
        try:
            results[key] = service.answer(question)
        except Busy as err:
            results[key] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_full_line_refuses_at_once_and_the_waiting_are_served(pipeline):
    service, generator = gated_service(pipeline, max_waiting=1)
    results: dict = {}
    first = in_thread(service, PRISON_QUESTION, results, "first")
    assert generator.started.wait(10)
    second = in_thread(service, OTHER_QUESTION, results, "second")
    wait_until(lambda: service.turns.waiting == 1, "the second question waits")

    with pytest.raises(Busy, match="being answered and 1 more are waiting") as refused:
        service.answer("Who runs the camps?")
    assert refused.value.reason == "full" and refused.value.retry_after_s >= 1

    generator.gate.set()
    first.join(10)
    second.join(10)
    assert results["first"].question == PRISON_QUESTION
    assert results["second"].question == OTHER_QUESTION
    assert [PRISON_QUESTION in generator.order[0], OTHER_QUESTION in generator.order[1]] == [True, True]
    assert service.turns.waiting == 0 and not service.turns.running


def test_a_question_whose_turn_does_not_come_in_time_is_told_busy(pipeline):
    service, generator = gated_service(pipeline, max_waiting=4, timeout_s=0.2)
    results: dict = {}
    first = in_thread(service, PRISON_QUESTION, results, "first")
    assert generator.started.wait(10)
    with pytest.raises(Busy, match=r"waited 0\.2 s without its turn coming") as late:
        service.answer(OTHER_QUESTION)
    assert late.value.reason == "timeout"
    assert service.turns.waiting == 0  # the timed-out question left the line
    generator.gate.set()
    first.join(10)
    assert results["first"].question == PRISON_QUESTION
    assert service.answer(OTHER_QUESTION).question == OTHER_QUESTION


def test_turns_go_in_order_of_arrival(pipeline):
    service, generator = gated_service(pipeline, max_waiting=8)
    results: dict = {}
    questions = [f"What work do inmates of camp {n} do?" for n in range(6)]
    threads = [in_thread(service, questions[0], results, 0)]
    assert generator.started.wait(10)
    for n in range(1, len(questions)):
        threads.append(in_thread(service, questions[n], results, n))
        wait_until(lambda n=n: service.turns.waiting == n, f"question {n} waits")
    generator.gate.set()
    for t in threads:
        t.join(10)
    arrived = [next(q for q in questions if q in prompt) for prompt in generator.order]
    assert arrived == questions
    assert [results[n].question for n in range(len(questions))] == questions


def test_a_stream_closed_early_gives_up_its_turn(pipeline):
    service = AnswerService(pipeline, max_waiting=0)
    stream = service.stream(PRISON_QUESTION)
    next(stream)
    assert service.turns.running
    with pytest.raises(Busy, match="being answered and 0 more are waiting"):
        service.answer(OTHER_QUESTION)
    stream.close()
    assert not service.turns.running
    assert service.answer(OTHER_QUESTION).question == OTHER_QUESTION


def test_a_failing_generation_gives_up_its_turn(pipeline):
    class Broken:
        def generate(self, messages, options):
            raise RuntimeError("the model crashed")
            yield ""

    service = AnswerService(replace(pipeline, generator=Broken()), max_waiting=0)
    with pytest.raises(RuntimeError, match="the model crashed"):
        service.answer(PRISON_QUESTION)
    assert not service.turns.running


def test_retry_after_grows_with_the_line_and_the_measured_turns():
    turns = TurnQueue(max_waiting=4, wait_timeout_s=100)
    assert turns.retry_after_s() == 5  # the first guess, before any answer was timed
    turns.acquire()
    turns.release(took_s=10.0)
    assert turns.retry_after_s() == 10
    turns.acquire()
    waiter = threading.Thread(target=turns.acquire, daemon=True)
    waiter.start()
    wait_until(lambda: turns.waiting == 1, "one waits")
    assert turns.retry_after_s() == 20  # two turns' worth: the running one and the waiting one
    turns.release(took_s=6.5)  # mean: 0.7 * 10 + 0.3 * 6.5 = 8.95 s
    waiter.join(10)
    assert turns.running and turns.waiting == 0  # the waiter got its turn
    assert turns.retry_after_s() == 9


def test_a_question_that_would_wait_past_the_timeout_is_refused_at_once():
    turns = TurnQueue(max_waiting=8, wait_timeout_s=15)
    turns.acquire()
    turns.release(took_s=10.0)
    turns.acquire()
    waiter = threading.Thread(target=turns.acquire, daemon=True)
    waiter.start()  # about 10 s ahead of it: it may wait
    wait_until(lambda: turns.waiting == 1, "one waits")
    started = time.monotonic()
    with pytest.raises(Busy, match="2 questions are ahead of this one, about 20 s of work") as late:
        turns.acquire()
    assert late.value.reason == "late" and late.value.retry_after_s == 20
    assert time.monotonic() - started < 5  # at once, not after the 15 s timeout
    turns.release(took_s=10.0)
    waiter.join(10)
    assert turns.running
