"""Upload jobs in the shared PostgreSQL store, so any server can report on a job another one runs.

The server running a job records which it is and refreshes the job's heartbeat with each update; a job
whose heartbeat is older than a limit belonged to a server that stopped, and `fail_stale_jobs` marks it
failed. Times are the database's own clock (`now()`), so servers whose clocks differ still agree.
"""

from __future__ import annotations

from typing import Any

from rag.ingest.uploads import Job, JobStatus
from rag.pg import Pool, connection

STOPPED = "the server running it stopped"
_COLUMNS = "id, filename, status, progress, step, doc_id, title, error"
_OPEN = (JobStatus.QUEUED.value, JobStatus.INDEXING.value)


def create_job(store: str | Pool, job: Job, server_id: str) -> None:
    """Record a new job, run by `server_id`."""
    with connection(store) as conn:
        conn.execute(
            f"INSERT INTO upload_jobs ({_COLUMNS}, server_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (*_values(job), server_id),
        )


def update_job(store: str | Pool, job: Job, server_id: str) -> None:
    """Record the job's new state and refresh its heartbeat; KeyError if no such job was created."""
    with connection(store) as conn:
        changed = conn.execute(
            "UPDATE upload_jobs SET filename = %s, status = %s, progress = %s, step = %s, doc_id = %s, title = %s, "
            "error = %s, server_id = %s, heartbeat = now() WHERE id = %s",
            (*_values(job)[1:], server_id, job.job),
        ).rowcount
    if changed != 1:
        raise KeyError(f"no upload job {job.job!r} in the store")


def heartbeat(store: str | Pool, server_id: str) -> int:
    """Refresh the heartbeat of every open job `server_id` runs (while a long step has no news); how many."""
    with connection(store) as conn:
        return conn.execute(
            "UPDATE upload_jobs SET heartbeat = now() WHERE server_id = %s AND status = ANY(%s)",
            (server_id, list(_OPEN)),
        ).rowcount


def get_job(store: str | Pool, job_id: str) -> Job | None:
    """The job with id `job_id`, or None."""
    with connection(store) as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM upload_jobs WHERE id = %s", (job_id,)).fetchone()
    return None if row is None else _job(row)


def open_jobs(store: str | Pool) -> list[Job]:
    """Every job still queued or indexing, on any server, oldest first."""
    with connection(store) as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM upload_jobs WHERE status = ANY(%s) ORDER BY created, id", (list(_OPEN),)
        ).fetchall()
    return [_job(r) for r in rows]


def fail_stale_jobs(store: str | Pool, older_than_s: float) -> list[str]:
    """Mark failed the open jobs whose heartbeat is older than `older_than_s` seconds; their ids."""
    with connection(store) as conn:
        found = conn.execute(
            "UPDATE upload_jobs SET status = %s, step = 'failed', error = %s || ' (' || server_id || ')' "
            "WHERE status = ANY(%s) AND heartbeat < now() - make_interval(secs => %s) RETURNING id",
            (JobStatus.FAILED.value, STOPPED, list(_OPEN), older_than_s),
        ).fetchall()
    return sorted(r[0] for r in found)


def _values(job: Job) -> tuple[Any, ...]:
    return (job.job, job.filename, job.status.value, job.progress, job.step, job.doc_id, job.title, job.error)


def _job(row: tuple[Any, ...]) -> Job:
    job_id, filename, status, progress, step, doc_id, title, error = row
    return Job(job_id, filename, JobStatus(status), float(progress), step, doc_id, title, error)
