"""Feedback and upload jobs in the shared PostgreSQL store."""

from __future__ import annotations

import threading

import psycopg
import pytest

from rag.feedback import Feedback, FeedbackError, FeedbackStore, Rating, open_feedback_store
from rag.feedback_pg import PgFeedbackStore
from rag.ingest.jobs_pg import STOPPED, create_job, fail_stale_jobs, get_job, heartbeat, update_job
from rag.ingest.uploads import Job, JobStatus

pytestmark = pytest.mark.postgres


def verdict(i: int = 0, rating: Rating = Rating.HELPFUL) -> Feedback:
    return Feedback(
        question=f"Who is sent abroad? {i}",
        answer={"text": "Workers [1].", "citations": [{"n": 1, "quote": "Workers go"}], "abstained": False},
        rating=rating,
        history=({"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}),
        note="ünïcode ✓" if i % 2 else "",
        provenance={"index_build": "b1", "embedder": "fake-hash"},
        created="2025-05-01T09:30:00Z",
    )


def test_feedback_reads_back_as_the_sqlite_store_reads_it(pg_url, tmp_path):
    shared = open_feedback_store(tmp_path / "feedback.db", pg_url)
    local = open_feedback_store(tmp_path / "feedback.db")
    assert isinstance(shared, PgFeedbackStore) and isinstance(local, FeedbackStore)
    try:
        assert shared.rows() == [] and shared.count() == 0
        for i, rating in enumerate((Rating.HELPFUL, Rating.WRONG, Rating.WRONG)):
            assert shared.add(verdict(i, rating)) == local.add(verdict(i, rating)) == i + 1
        shared.annotate(2, "the year is wrong")
        local.annotate(2, "the year is wrong")
        assert shared.rows() == local.rows()
        assert list(shared) == list(local)
        assert [list(f.answer) for f in shared.rows()] == [["text", "citations", "abstained"]] * 3  # order kept
        assert shared.rows(Rating.WRONG) == local.rows(Rating.WRONG)
        assert (shared.count(), shared.count(Rating.WRONG), shared.count(Rating.HELPFUL)) == (3, 2, 1)
        with pytest.raises(ValueError, match="no feedback with id 9"):
            shared.annotate(9, "x")
        with pytest.raises(ValueError, match="the limit is"):
            shared.annotate(1, "x" * 5000)
    finally:
        shared.close()


def test_concurrent_posts_are_all_kept(pg_url):
    stores = [PgFeedbackStore(pg_url) for _ in range(2)]  # two servers
    ids: list[int] = []

    def post(store: PgFeedbackStore, first: int) -> None:
        ids.extend(store.add(verdict(i)) for i in range(first, first + 25))

    threads = [threading.Thread(target=post, args=(stores[n % 2], n * 25)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(1, 101))
    assert sorted(f.question for f in stores[0].rows()) == sorted(verdict(i).question for i in range(100))
    for store in stores:
        store.close()


def test_an_unreachable_feedback_store_raises_feedback_error(tmp_path):
    store = PgFeedbackStore(f"postgresql://rag:pw@/library?host={tmp_path}&port=1")
    with pytest.raises(FeedbackError, match="RAG_DATABASE_URL") as caught:
        store.add(verdict())
    assert "pw@" not in str(caught.value)


def test_a_job_is_created_updated_and_read_by_any_server(pg_url):
    job = Job("j1", "report.pdf")
    create_job(pg_url, job, "server-a")
    assert get_job(pg_url, "j1") == job
    assert get_job(pg_url, "nope") is None
    done = Job("j1", "report.pdf", JobStatus.DONE, 1.0, "done", doc_id="report", title="A report")
    update_job(pg_url, done, "server-a")
    assert get_job(pg_url, "j1") == done
    with pytest.raises(KeyError, match="j2"):
        update_job(pg_url, Job("j2", "other.txt"), "server-a")


def age(url: str, job_id: str, seconds: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE upload_jobs SET heartbeat = now() - make_interval(secs => %s) WHERE id = %s", (seconds, job_id)
        )


def test_a_job_whose_server_stopped_is_marked_failed(pg_url):
    create_job(pg_url, Job("quiet", "a.txt", JobStatus.INDEXING, 0.4, "embedding"), "server-a")
    create_job(pg_url, Job("alive", "b.txt", JobStatus.INDEXING, 0.2, "embedding"), "server-b")
    create_job(pg_url, Job("finished", "c.txt", JobStatus.DONE, 1.0, "done"), "server-a")
    for job_id in ("quiet", "alive", "finished"):
        age(pg_url, job_id, 120)
    assert heartbeat(pg_url, "server-b") == 1
    assert fail_stale_jobs(pg_url, 60) == ["quiet"]
    failed = get_job(pg_url, "quiet")
    assert failed is not None and failed.status is JobStatus.FAILED and failed.step == "failed"
    assert failed.error == f"{STOPPED} (server-a)" and failed.progress == 0.4
    assert get_job(pg_url, "alive").status is JobStatus.INDEXING  # type: ignore[union-attr]
    assert get_job(pg_url, "finished").status is JobStatus.DONE  # type: ignore[union-attr]
    assert fail_stale_jobs(pg_url, 60) == []
