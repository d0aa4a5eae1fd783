import numpy as np
import pytest

from rag.index.dense import DenseIndex


def unit(rows):
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


VECTORS = unit([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0]])


def test_exact_search_orders_by_cosine():
    index = DenseIndex.build(VECTORS)
    scores, rows = index.search(unit([[1, 0, 0]])[0], k=3)
    assert index.kind == "flat"
    assert rows.tolist() == [0, 1, 4]
    assert scores[0] == pytest.approx(1.0)
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.parametrize("k", [1, 3, 5, 9])
def test_len_of_results_is_min_of_k_and_n(k):
    _, rows = DenseIndex.build(VECTORS).search(VECTORS[0], k=k)
    assert len(rows) == min(k, len(VECTORS))


def test_mask_excludes_rows():
    allowed = np.array([False, False, True, True, True])
    _, rows = DenseIndex.build(VECTORS).search(unit([[1, 0.2, 0]])[0], k=2, allowed=allowed)
    assert rows.tolist() == [4, 2]


def test_empty_mask_and_empty_index_return_nothing():
    assert DenseIndex.build(VECTORS).search(VECTORS[0], 3, np.zeros(5, bool))[1].size == 0
    assert DenseIndex.build(np.zeros((0, 3), np.float32)).search(VECTORS[0], 3)[1].size == 0


def test_hnsw_above_the_exact_limit_finds_the_same_neighbours():
    rng = np.random.default_rng(0)
    data = unit(rng.normal(size=(2000, 16)))
    exact = DenseIndex.build(data)
    approx = DenseIndex.build(data, exact_max=1000)
    assert approx.kind == "hnsw"
    agree = 0
    for q in data[:50]:
        agree += len(set(exact.search(q, 10)[1]) & set(approx.search(q, 10)[1]))
    assert agree / 500 > 0.95


@pytest.mark.parametrize("exact_max", [100, 1000])
def test_save_load_round_trip(tmp_path, exact_max):
    rng = np.random.default_rng(1)
    data = unit(rng.normal(size=(300, 8)))
    index = DenseIndex.build(data, exact_max=exact_max)
    index.save(tmp_path / "i.faiss")
    for mmap in (False, True):
        loaded = DenseIndex.load(tmp_path / "i.faiss", mmap=mmap)
        assert loaded.kind == index.kind
        for q in data[:10]:
            assert loaded.search(q, 5)[1].tolist() == index.search(q, 5)[1].tolist()


@pytest.mark.parametrize("exact_max", [2, 1000])
def test_row_ids_and_mask_restrict_alike_and_exactly(exact_max):
    rng = np.random.default_rng(2)
    data = unit(rng.normal(size=(400, 8)))
    index = DenseIndex.build(data, exact_max=exact_max)
    rows = np.arange(3, 400, 9)
    mask = np.zeros(400, bool)
    mask[rows] = True
    query = data[30]
    expected = rows[np.argsort(-(data[rows] @ query), kind="stable")][:5]
    assert index.search(query, 5, rows)[1].tolist() == expected.tolist()
    assert index.search(query, 5, mask)[1].tolist() == expected.tolist()


def test_vectors_view_the_stored_rows(tmp_path):
    data = unit(np.random.default_rng(3).normal(size=(50, 4)))
    for exact_max in (10, 100):
        index = DenseIndex.build(data, exact_max=exact_max)
        index.save(tmp_path / "v.faiss")
        for loaded in (index, DenseIndex.load(tmp_path / "v.faiss", mmap=True)):
            assert np.array_equal(loaded.vectors(), data)
