"""The reports being served, and the ones people add or remove through the web app.

An added file is checked (name, size, type, metadata), read, and compared with the indexed
reports (the same file again, or the same text in another format, is refused) before anything
is written. It is then kept in the uploads folder beside the index, so that a rebuild reads it
again, and indexed in the background, one job at a time: the index is rebuilt with the new file
(vectors of unchanged passages reused) and swapped in as a whole, so a crash or kill mid-way
leaves the previous index serving. Files a killed job left in the uploads folder are removed at
the next start. Removing a report rebuilds the index without it; a report that came from a folder
is removed by naming that folder's other files instead of the folder.

With the shared store (RAG_DATABASE_URL) a new build starts from the reports the store holds, so
reports other servers added stay in it; jobs are recorded in the store (`jobs`), so their status can
be asked of any server.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.indexing import index_documents, remove_shared
from app.shared import SharedJobs
from embeddings.encoder import Embedder
from rag.index.store import CorpusIndex
from rag.ingest.files import IngestError, discover, load_document
from rag.ingest.uploads import Job, JobStatus, UploadRefused, check_metadata, check_upload, near_duplicate
from rag.pg import StoreUnavailable
from rag.settings import Settings
from rag.types import Document

log = logging.getLogger(__name__)

# How far each indexing step takes a job (0..1); embedding fills the span between its bounds.
_STEP_PROGRESS = {"reading": 0.05, "chunking": 0.1, "embedding": 0.1, "writing": 0.92}
_EMBEDDING_SPAN = 0.8
_STEP_TEXT = {"reading": "reading the reports", "chunking": "splitting into passages", "writing": "writing the index"}
# Finished jobs remembered for their status route.
_KEEP_FINISHED = 200


class ReportLibrary:
    """Adds and removes reports: checks, a background indexer (one job at a time), the swap to the new index."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        current: Callable[[], CorpusIndex],
        publish: Callable[[CorpusIndex], None],
        jobs: SharedJobs | None = None,
    ) -> None:
        self.settings = settings
        self.shared_jobs = jobs
        self.embedder = embedder
        self._current = current
        self._publish = publish
        self._jobs: dict[str, Job] = {}
        self._pending: dict[str, tuple[str, Document]] = {}  # job -> (sha256, document) while not finished
        self._state = threading.Lock()  # guards _jobs and _pending
        self._building = threading.Lock()  # one build at a time: a job's or a removal's
        self._queue: queue.Queue[tuple[str, Path]] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="report-indexer", daemon=True)
        self._worker.start()
        self.remove_unindexed_uploads()

    @property
    def uploads(self) -> Path:
        return self.settings.uploads_dir

    def reports(self) -> list[dict[str, Any]]:
        """The indexed reports (status "indexed"), then those being added (their job's status)."""
        index = self._current()
        counts: dict[str, int] = {}
        for chunk in index.chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        listed = [report_json(doc, counts.get(doc.doc_id, 0), "indexed") for doc in index.documents.values()]
        with self._state:
            waiting = [(self._jobs[job], doc) for job, (_sha, doc) in self._pending.items()]
        listed += [report_json(doc, 0, job.status.value) | {"job": job.job} for job, doc in waiting]
        indexed = set(index.documents)
        others = [j for j in self._other_servers_jobs() if j.doc_id not in indexed]
        # Another server's report is known here only by its job: no metadata until it is indexed.
        listed += [listing(j.doc_id, j.title, {}, 0, j.status.value) | {"job": j.job} for j in others if j.doc_id]
        return listed

    def _other_servers_jobs(self) -> list[Job]:
        """The jobs other servers on the shared store are running (none without one, or while it is down)."""
        if self.shared_jobs is None:
            return []
        try:
            jobs = self.shared_jobs.open()
        except StoreUnavailable:
            return []
        with self._state:
            own = set(self._jobs)
        return [j for j in jobs if j.job not in own]

    def job(self, job_id: str) -> Job | None:
        """The job's state: from the shared store when there is one (any server's job), else this server's."""
        if self.shared_jobs is not None:
            try:
                found = self.shared_jobs.get(job_id)
            except StoreUnavailable:
                found = self._local(job_id)
                if found is None:
                    raise
            if found is not None:
                return found
        return self._local(job_id)

    def _local(self, job_id: str) -> Job | None:
        with self._state:
            return self._jobs.get(job_id)

    def add(self, filename: str, data: bytes, metadata: str | bytes | None = None) -> Job:
        """Check and read an uploaded report, keep it, and queue it for indexing; UploadRefused if not accepted."""
        name = check_upload(filename, data, self.settings.server.max_upload_bytes)
        meta = check_metadata(metadata)
        sha = hashlib.sha256(data).hexdigest()
        indexed = list(self._current().documents.values())
        same = next((d for d in indexed if d.sha256 == sha), None)
        if same is not None:
            raise UploadRefused(f"{name} is already indexed, as {same.title!r} ({same.doc_id})", 409)
        doc = self._read(name, data, meta)
        with self._state:
            pending = list(self._pending.items())
        for queued, (other_sha, _other) in pending:
            if other_sha == sha:
                raise UploadRefused(f"{name} is being added already (job {queued})", 409)
        # The same bytes give the same doc_id: another server on the shared store may be adding them.
        for elsewhere in self._other_servers_jobs():
            if elsewhere.doc_id == doc.doc_id:
                raise UploadRefused(f"{name} is being added already, by another server (job {elsewhere.job})", 409)
        twin = near_duplicate(doc, [*indexed, *(other for _job, (_sha, other) in pending)])
        if twin is not None:
            raise UploadRefused(
                f"{name} holds the same text as {twin.title!r} ({twin.doc_id}), which is indexed or being added; "
                "it was not indexed a second time",
                409,
            )
        path = self._keep(name, data, meta, sha)
        job = Job(job=uuid.uuid4().hex[:12], filename=name, doc_id=doc.doc_id, title=doc.title)
        with self._state:
            self._jobs[job.job] = job
            self._pending[job.job] = (sha, doc)
        if self.shared_jobs is not None:
            try:
                self.shared_jobs.create(job)
            except Exception:  # the store is down: nothing is queued, nothing kept
                with self._state:
                    self._jobs.pop(job.job, None)
                    self._pending.pop(job.job, None)
                shutil.rmtree(path.parent, ignore_errors=True)
                raise
        self._queue.put((job.job, path))
        log.info("queued %s as job %s", path, job.job)
        return job

    def remove(self, doc_id: str) -> Document:
        """Rebuild the index without a report and serve it; KeyError if unknown, UploadRefused (409) if the last."""
        with self._building:
            index = self._current()
            doc = index.documents.get(doc_id)
            if doc is None:
                raise KeyError(doc_id)
            if len(index.documents) == 1:
                raise UploadRefused(f"{doc.title!r} is the only report; add another before removing it", 409)
            source = Path(doc.source)
            inputs: list[Path] = []
            for path in index.inputs:
                if path == source:
                    continue
                if path.is_dir() and source.is_relative_to(path):
                    inputs += [f.resolve() for f in discover([path]) if f.resolve() != source]
                else:
                    inputs.append(path)
            if self.settings.database:
                # The other reports' text is in the store, whichever server's disk their files are on.
                report = remove_shared(self.settings, self.embedder, doc_id, inputs, log.info)
            else:
                report = index_documents(self.settings, self.embedder, inputs, replace=True, say=log.info)
            self._publish(report.index)
        if source.is_relative_to(self.uploads.resolve()):
            shutil.rmtree(source.parent, ignore_errors=True)
        log.info("removed %s (%s)", doc_id, source)
        return doc

    def remove_unindexed_uploads(self) -> None:
        """Delete upload folders that no indexed report comes from (left by a job that was killed or failed)."""
        if not self.uploads.is_dir():
            return
        used = {Path(d.source).resolve().parent for d in self._current().documents.values()}
        with self._state:
            queued = {self._folder(sha).resolve() for sha, _doc in self._pending.values()}
        for folder in self.uploads.iterdir():
            if folder.is_dir() and folder.resolve() not in used | queued:
                log.warning("removing %s: an upload that was never indexed", folder)
                shutil.rmtree(folder, ignore_errors=True)

    def _read(self, name: str, data: bytes, meta: dict[str, str]) -> Document:
        """The upload read as a Document, from a scratch folder (nothing is kept)."""
        with tempfile.TemporaryDirectory(prefix="report-rag-upload-") as scratch:
            path = Path(scratch) / name
            path.write_bytes(data)
            if meta:
                _write_sidecar(path, meta)
            try:
                return load_document(path, self.settings.server.max_upload_bytes)
            except IngestError as err:
                raise UploadRefused(f"{name} could not be read: {err}") from err

    def _folder(self, sha: str) -> Path:
        """Where an upload with this SHA-256 is kept."""
        return self.uploads / sha[:16]

    def _keep(self, name: str, data: bytes, meta: dict[str, str], sha: str) -> Path:
        folder = self._folder(sha)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        tmp.replace(path)
        if meta:
            _write_sidecar(path, meta)
        return path

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._state:
            job = self._jobs[job_id] = replace(self._jobs[job_id], **changes)
        if self.shared_jobs is not None:
            self.shared_jobs.update(job)

    def _run(self) -> None:
        while True:
            job_id, path = self._queue.get()
            try:
                self._index(job_id, path)
            except Exception as err:  # a failed job is reported on its status route; the worker carries on
                log.exception("indexing %s failed", path)
                self._update(job_id, status=JobStatus.FAILED, step="failed", error=str(err) or type(err).__name__)
                shutil.rmtree(path.parent, ignore_errors=True)
            finally:
                with self._state:
                    self._pending.pop(job_id, None)
                    self._forget_old()

    def _index(self, job_id: str, path: Path) -> None:
        def step(name: str, done: int, total: int) -> None:
            progress = _STEP_PROGRESS[name] + (_EMBEDDING_SPAN * done / max(1, total) if name == "embedding" else 0)
            text = f"embedding passage {done} of {total}" if name == "embedding" else _STEP_TEXT[name]
            self._update(job_id, progress=progress, step=text)

        self._update(job_id, status=JobStatus.INDEXING, step="starting")
        with self._building:
            # The upload's own folder is the input, so its metadata sidecar is read with it.
            report = index_documents(self.settings, self.embedder, [path.parent], say=log.info, on_step=step)
            job = self._local(job_id)
            if job is None or job.doc_id not in report.index.documents:
                why = next((s.reason for s in report.skipped if s.path.resolve() == path.resolve()), "it was skipped")
                raise IngestError(f"{path.name} was not indexed: {why}")
            self._publish(report.index)
        self._update(job_id, status=JobStatus.DONE, progress=1.0, step="done")
        log.info("indexed %s as %s", path, job.doc_id)

    def _forget_old(self) -> None:
        finished = [j for j, job in self._jobs.items() if job.status in (JobStatus.DONE, JobStatus.FAILED)]
        for job_id in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
            del self._jobs[job_id]


def report_json(doc: Document, chunks: int, status: str) -> dict[str, Any]:
    """A report as `GET /api/reports` lists it."""
    meta = {k: v for k, v in doc.meta().items() if v and k not in ("doc_id", "title", "source")}
    return listing(doc.doc_id, doc.title, meta, chunks, status)


def listing(doc_id: str, title: str, metadata: dict[str, str], chunks: int, status: str) -> dict[str, Any]:
    """One entry of `GET /api/reports`."""
    return {"doc_id": doc_id, "title": title, "metadata": metadata, "chunks": chunks, "status": status}


def _write_sidecar(path: Path, meta: dict[str, str]) -> None:
    import json

    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
