import numpy as np

from rag.index.bm25 import LexicalIndex
from rag.text import fold_initialisms

TEXTS = [
    "Prison camps hold political prisoners who do forced labor.",
    "The Czech Ministry of Interior ended its program for workers.",
    "Women are sold as brides to P. R. C. nationals.",
    "The D. P. R. K. government controls the accounts.",
]


def test_bm25_ranks_by_shared_stemmed_terms():
    index = LexicalIndex.build(TEXTS)
    _, rows = index.search("which ministry ended the workers programs", k=4)
    assert rows[0] == 1


def test_initialisms_match_either_spelling():
    index = LexicalIndex.build(TEXTS)
    assert index.search("PRC", k=1)[1].tolist() == [2]
    assert index.search("D.P.R.K. accounts", k=1)[1].tolist() == [3]
    assert fold_initialisms("in P. R. C. , and U.S. aid") == "in PRC , and US aid"


def test_no_matching_term_returns_nothing():
    index = LexicalIndex.build(TEXTS)
    assert index.search("zebra", k=3)[1].size == 0
    assert index.search("the of and", k=3)[1].size == 0


def test_mask_and_k():
    index = LexicalIndex.build(TEXTS)
    allowed = np.array([True, False, True, True])
    assert 1 not in index.search("ministry workers program", 4, allowed)[1].tolist()
    assert len(index.search("the prison ministry brides accounts", 2)[1]) == 2


def test_save_load_round_trip(tmp_path):
    index = LexicalIndex.build(TEXTS)
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    for q in ("forced labor", "brides", "ministry program"):
        assert loaded.search(q, 3)[1].tolist() == index.search(q, 3)[1].tolist()


def test_row_ids_restrict_like_a_mask():
    index = LexicalIndex.build(TEXTS)
    mask = np.array([True, False, True, True])
    query = "ministry workers program prison"
    by_mask = index.search(query, 4, mask)
    by_rows = index.search(query, 4, np.array([0, 2, 3]))
    assert by_rows[1].tolist() == by_mask[1].tolist()
    assert 1 not in by_rows[1].tolist()
