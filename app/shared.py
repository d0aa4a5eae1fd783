"""A server's part in the shared store: noticing builds other servers published, and upload jobs any server can read.

`BuildWatcher` asks the store for its current build at most every `POLL_S` seconds (when requests come)
and swaps a newer one in, as publishing a build of its own does; builds only ever move forward. `SharedJobs`
records this server's upload jobs in the store and keeps their heartbeat while they run; jobs of servers
that stopped are marked failed by whichever server looks next.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rag.index.store import CorpusIndex
from rag.ingest.uploads import Job
from rag.pg import Pool, StoreUnavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

# How often (seconds, at most) a server asks the store whether another server published a build; chosen by hand.
POLL_S = 2.0


def server_id() -> str:
    """This server's name in the jobs table: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class BuildWatcher:
    """Serves the store's newest build: swaps it in when another server published one."""

    def __init__(
        self,
        pool: Pool,
        load: Callable[[], CorpusIndex],
        served: Callable[[], CorpusIndex],
        use: Callable[[CorpusIndex], None],
        every_s: float = POLL_S,
    ) -> None:
        self.pool = pool
        self._load = load
        self._served = served
        self._use = use
        self.every_s = every_s
        self._checked = time.monotonic()
        self._checking = threading.Lock()  # one request checks; the others go on with the build they have
        self._swapping = threading.Lock()  # guards the compare-and-swap of the served build

    def due(self) -> bool:
        """Whether the store should be asked again (cheap: no query)."""
        return time.monotonic() - self._checked >= self.every_s

    def poll(self) -> None:
        """Swap in the store's current build if it is newer than the served one; errors are left to requests."""
        from rag.index.postgres import current_build_id

        if not self._checking.acquire(blocking=False):
            return
        try:
            if not self.due():
                return
            self._checked = time.monotonic()
            latest = current_build_id(self.pool)
            if latest is not None and latest != _build(self._served()):
                self.reload()
        finally:
            self._checking.release()

    def reload(self) -> None:
        """Read the store's current build and serve it (if it is newer than the served one)."""
        self.publish(self._load())

    def publish(self, index: CorpusIndex) -> None:
        """Serve `index` unless a newer build is served already (a slow reload never undoes a publish)."""
        with self._swapping:
            new, old = _build(index), _build(self._served())
            if new is None or old is None or new >= old:
                if new != old:
                    log.info("serving build %s of the shared store (was %s)", new, old)
                self._use(index)


class SharedJobs:
    """This server's upload jobs in the store's table, kept alive by a heartbeat, and stale ones failed."""

    def __init__(self, pool: Pool, stale_s: float, server: str | None = None) -> None:
        self.pool = pool
        self.stale_s = stale_s
        self.server = server or server_id()
        self._stop = threading.Event()
        self._unsent: dict[str, Job] = {}  # the last state of jobs whose record failed, sent again by the beat
        self._unsent_lock = threading.Lock()
        self.fail_stale()
        self._thread = threading.Thread(target=self._beat, name="upload-job-heartbeat", daemon=True)
        self._thread.start()

    def create(self, job: Job) -> None:
        from rag.ingest.jobs_pg import create_job

        create_job(self.pool, job, self.server)

    def update(self, job: Job) -> None:
        """Record the job's new state; while the store is down the heartbeat sends the last one again."""
        with self._unsent_lock:  # in order: a state sent again never overwrites a newer one
            self._unsent[job.job] = job
            self._send()

    def _send(self) -> None:
        from rag.ingest.jobs_pg import update_job

        for job in list(self._unsent.values()):
            try:
                update_job(self.pool, job, self.server)
            except Exception as err:  # psycopg's errors and StoreUnavailable: the job carries on
                log.warning("upload job %s not recorded in the shared store: %s", job.job, err)
                return
            del self._unsent[job.job]

    def get(self, job_id: str) -> Job | None:
        """The job as the store has it (run by any server); StoreUnavailable while the store is down."""
        from rag.ingest.jobs_pg import get_job

        return self._read(get_job, job_id)

    def open(self) -> list[Job]:
        """The jobs still queued or indexing on any server; StoreUnavailable while the store is down."""
        from rag.ingest.jobs_pg import open_jobs

        return self._read(open_jobs)

    def _read(self, query: Callable[..., T], *args: Any) -> T:
        """`query(pool, *args)`, its database errors reported as the store being unavailable."""
        import psycopg

        try:
            return query(self.pool, *args)
        except psycopg.Error as err:
            raise StoreUnavailable(f"the shared store did not answer ({type(err).__name__})") from err

    def fail_stale(self) -> list[str]:
        """Mark failed the jobs whose server stopped reporting; their ids (none if the store is down)."""
        from rag.ingest.jobs_pg import fail_stale_jobs

        try:
            failed = fail_stale_jobs(self.pool, self.stale_s)
        except Exception as err:  # the store may be down: the next beat tries again
            log.warning("stale upload jobs not checked: %s", err)
            return []
        for job_id in failed:
            log.warning("upload job %s failed: its server stopped", job_id)
        return failed

    def close(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        from rag.ingest.jobs_pg import heartbeat

        while not self._stop.wait(self.stale_s / 3):
            with self._unsent_lock:
                self._send()
            try:
                heartbeat(self.pool, self.server)
            except Exception as err:  # the store may be down: the next beat tries again
                log.warning("upload job heartbeat not recorded: %s", err)
            self.fail_stale()


def _build(index: CorpusIndex) -> int | None:
    from rag.index.shared import build_of

    return build_of(index)
