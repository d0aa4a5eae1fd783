import hashlib

import pytest

from rag.generate.models import ModelFileError, SplitModel, assemble
from tests.fakes import forget_part_packages, install_part_packages


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Three installed 'part packages', each shipping one piece of a file."""
    pieces = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"end"]
    install_part_packages(tmp_path / "site", "fakepart", pieces)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield pieces
    forget_part_packages("fakepart", len(pieces))


def model(sha: str, parts: int = 3) -> SplitModel:
    return SplitModel("joined.gguf", "fakepart{n}", "fakepart{n}==1", parts, sha)


def test_joins_verifies_and_reuses(tmp_path, parts):
    sha = hashlib.sha256(b"".join(parts)).hexdigest()
    seen = []
    path = assemble(model(sha), tmp_path / "cache", lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == b"".join(parts)
    assert seen[-1] == (len(b"".join(parts)),) * 2
    mtime = path.stat().st_mtime_ns
    assert assemble(model(sha), tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == mtime  # not joined again


def test_hash_mismatch_leaves_no_file(tmp_path, parts):
    with pytest.raises(ModelFileError, match="SHA-256"):
        assemble(model("0" * 64), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_names_the_package(tmp_path, parts):
    with pytest.raises(ModelFileError, match=r"part 4 of 4 is not installed: `pip install fakepart4==1`"):
        assemble(model("0" * 64, parts=4), tmp_path / "cache")
