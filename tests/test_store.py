import json

import numpy as np
import pytest

from rag.index.retrieve import Retriever
from rag.index.store import ChunkingConfig, IndexCorrupt, IndexMissing, build_index, load_index, stale_reason
from rag.settings import RetrievalMode
from tests.fakes import REPORT_PATH, HashEmbedder, write

CHUNKING = ChunkingConfig(max_chars=400, overlap=1)


def build(tmp_path, inputs, embedder, previous=None):
    return build_index(tmp_path / "index", inputs, embedder, CHUNKING, previous=previous)


def test_missing_index_is_reported(tmp_path):
    with pytest.raises(IndexMissing, match="rag index"):
        load_index(tmp_path / "nothing")


def test_round_trip_gives_identical_results(tmp_path, embedder):
    built = build(tmp_path, [REPORT_PATH], embedder).index
    loaded = load_index(tmp_path / "index")
    assert loaded.chunks == built.chunks
    assert loaded.documents == built.documents
    for mode in RetrievalMode:
        a = Retriever(built, embedder, mode)
        b = Retriever(loaded, embedder, mode)
        for q in ("prison camps logging mining", "Czech workers program", "Article 50 children"):
            assert [(h.chunk.chunk_id, h.score) for h in a.search(q, 5)] == [
                (h.chunk.chunk_id, h.score) for h in b.search(q, 5)
            ]


def test_manifest_records_what_the_index_was_built_from(tmp_path, embedder, corpus):
    index = build(tmp_path, [corpus], embedder).index
    m = json.loads((index.path / "manifest.json").read_text())
    assert m["embedder"] == {"name": "fake-hash", "dim": 512}
    assert m["chunking"] == {"max_chars": 400, "overlap": 1}
    assert len(m["documents"]) == 2
    assert all(len(d["sha256"]) == 64 for d in m["documents"].values())
    assert {"faiss-cpu", "bm25s", "report-rag"} <= set(m["versions"])
    assert m["dense_kind"] == "flat"


def test_adding_a_document_embeds_only_its_chunks(tmp_path, corpus):
    first = HashEmbedder()
    old = build(tmp_path, [corpus], first)
    assert old.embedded == first.embedded_texts == len(old.index.chunks)
    write(corpus, "new.txt", "Protocol\n\nNorth Korea has not ratified the protocol.")
    second = HashEmbedder()
    new = build(tmp_path, [corpus], second, previous=old.index)
    assert second.embedded_texts == new.embedded == 1
    assert new.reused == len(old.index.chunks)
    old_rows = {c.chunk_id: i for i, c in enumerate(old.index.chunks)}
    for i, c in enumerate(new.index.chunks):
        if c.chunk_id in old_rows:
            np.testing.assert_array_equal(new.index.vectors[i], old.index.vectors[old_rows[c.chunk_id]])


def test_stale_reasons(tmp_path, embedder, corpus):
    index = build(tmp_path, [corpus], embedder).index
    assert stale_reason(index.manifest, "fake-hash", CHUNKING, [corpus]) is None
    assert "embedder" in stale_reason(index.manifest, "other-model", CHUNKING, [corpus])
    assert "chunking" in stale_reason(index.manifest, "fake-hash", ChunkingConfig(200, 0), [corpus])
    write(corpus, "camps.txt", "Camps\n\nChanged text.")
    assert "changed" in stale_reason(index.manifest, "fake-hash", CHUNKING, [corpus])
    write(corpus, "more.txt", "Another report.")
    (corpus / "camps.txt").unlink()
    assert stale_reason(index.manifest, "fake-hash", CHUNKING, [corpus]) is not None


def test_skipped_files_do_not_make_the_index_stale(tmp_path, embedder, corpus):
    write(corpus, "broken.txt", b"\x00\x01binary")
    report = build(tmp_path, [corpus], embedder)
    assert [s.path.name for s in report.skipped] == ["broken.txt"]
    assert stale_reason(report.index.manifest, "fake-hash", CHUNKING, [corpus]) is None


@pytest.mark.parametrize("victim", ["chunks.jsonl", "vectors.npy", "dense.faiss", "manifest.json"])
def test_corrupt_files_are_refused_whole(tmp_path, embedder, corpus, victim):
    index = build(tmp_path, [corpus], embedder).index
    path = index.path / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match="rebuild"):
        load_index(tmp_path / "index")


def test_failed_build_leaves_the_previous_index_serving(tmp_path, embedder, corpus):
    before = build(tmp_path, [corpus], embedder).index

    class Exploding(HashEmbedder):
        def embed(self, texts):
            raise RuntimeError("out of memory")

    write(corpus, "new.txt", "A new report about something else.")
    with pytest.raises(RuntimeError):
        build(tmp_path, [corpus], Exploding(), previous=before)
    after = load_index(tmp_path / "index")
    assert after.path == before.path
    assert after.chunks == before.chunks
    assert [p.name for p in (tmp_path / "index" / "builds").iterdir()] == [before.path.name]


def test_rebuild_replaces_old_builds(tmp_path, embedder, corpus):
    first = build(tmp_path, [corpus], embedder).index
    second = build(tmp_path, [corpus], embedder, previous=first).index
    assert second.path != first.path
    assert not first.path.exists()
    assert load_index(tmp_path / "index").path == second.path


def test_index_command_adds_paths_and_keeps_earlier_inputs(tmp_path, corpus):
    from app import indexing
    from rag.settings import Settings

    settings = Settings(index_dir=tmp_path / "idx", corpus=(corpus,))
    fake = HashEmbedder()
    first = indexing.index_documents(settings, fake, say=lambda _m: None).index
    assert len(first.documents) == 2
    extra = tmp_path / "extra"
    write(extra, "more.txt", "Another report about labor.")
    added = indexing.index_documents(settings, fake, [extra], say=lambda _m: None)
    assert len(added.index.documents) == 3 and added.embedded == 1
    again = indexing.index_documents(settings, fake, say=lambda _m: None)
    assert len(again.index.documents) == 3 and again.embedded == 0
    rebuilt = indexing.index_documents(settings, fake, reembed=True, say=lambda _m: None)
    assert rebuilt.embedded == len(rebuilt.index.chunks)
    only = indexing.index_documents(settings, fake, [extra], replace=True, say=lambda _m: None)
    assert len(only.index.documents) == 1


def test_skipped_files_are_never_read_to_check_staleness(tmp_path, embedder, corpus, monkeypatch):
    from rag.index import manifest
    from rag.ingest.files import IngestLimits

    big = corpus / "huge.txt"
    with big.open("wb") as f:
        f.truncate(5_000_000)
    outside = write(tmp_path / "private", "secret.txt", "Private notes.")
    (corpus / "leak.txt").symlink_to(outside)
    limits = IngestLimits(max_bytes=1_000_000)
    report = build_index(tmp_path / "index", [corpus], embedder, CHUNKING, limits=limits)
    assert sorted(s.path.name for s in report.skipped) == ["huge.txt", "leak.txt"]
    hashed: list[str] = []
    real_sha = manifest.sha256
    monkeypatch.setattr(manifest, "sha256", lambda path: hashed.append(path.name) or real_sha(path))
    assert stale_reason(report.index.manifest, "fake-hash", CHUNKING, [corpus]) is None
    assert sorted(hashed) == ["camps.txt", "work.txt"]
    with big.open("ab") as f:
        f.write(b"more")
    assert "huge.txt has changed" in stale_reason(report.index.manifest, "fake-hash", CHUNKING, [corpus])


def test_symlink_inside_the_corpus_does_not_make_the_index_stale(tmp_path, embedder, corpus):
    (corpus / "alias.txt").symlink_to(corpus / "camps.txt")
    index = build(tmp_path, [corpus], embedder).index
    assert stale_reason(index.manifest, "fake-hash", CHUNKING, [corpus]) is None


def _as_built_before_pages(build_dir) -> None:
    """Rewrite a build as the reader before page numbers left it: no reader version, no pages."""
    from rag.index.manifest import sha256

    for name, field in (("documents.jsonl", "pages"), ("chunks.jsonl", "page")):
        path = build_dir / name
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != field}) + "\n" for r in rows))
    manifest = json.loads((build_dir / "manifest.json").read_text())
    del manifest["reader"]
    manifest["files"] |= {name: sha256(build_dir / name) for name in ("documents.jsonl", "chunks.jsonl")}
    (build_dir / "manifest.json").write_text(json.dumps(manifest))


def test_index_read_by_an_older_reader_loads_and_is_rebuilt(tmp_path, corpus):
    from app import indexing
    from rag.ingest.files import READER_VERSION
    from rag.settings import Settings
    from tests.pdfs import REPORT_PAGES, paged_pdf

    write(corpus, "tip.pdf", paged_pdf(REPORT_PAGES))
    settings = Settings(index_dir=tmp_path / "idx", corpus=(corpus,))
    old = indexing.index_documents(settings, HashEmbedder(), say=lambda _m: None).index
    _as_built_before_pages(old.path)
    loaded = load_index(settings.index_dir)
    assert loaded.manifest.reader == 1
    assert all(d.pages == () for d in loaded.documents.values()) and {c.page for c in loaded.chunks} == {0}
    reason = stale_reason(loaded.manifest, "fake-hash", indexing.chunking(settings), [corpus])
    assert reason is not None and f"reader version 1, this is version {READER_VERSION}" in reason
    said: list[str] = []
    fresh = indexing.open_index(settings, HashEmbedder(), say=said.append)
    assert any("stale (its documents were read by reader version 1" in m for m in said), said
    assert fresh.path != old.path and fresh.manifest.reader == READER_VERSION
    assert {c.page for c in fresh.chunks if c.doc_id.startswith("tip-")} == {1, 2, 3}
    assert json.loads((fresh.path / "manifest.json").read_text())["reader"] == READER_VERSION
    reloaded = load_index(settings.index_dir)
    assert stale_reason(reloaded.manifest, "fake-hash", indexing.chunking(settings), [corpus]) is None
