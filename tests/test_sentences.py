from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from rag.ingest.sentences import paragraphs, sentences


def texts(text: str) -> list[str]:
    return [text[s:e] for s, e in sentences(text)]


def test_spaced_initialisms_do_not_split():
    t = "North Koreans who cross into P. R. C. are picked up by rings. The D. P. R. K. government is silent."
    assert texts(t) == [
        "North Koreans who cross into P. R. C. are picked up by rings.",
        "The D. P. R. K. government is silent.",
    ]


def test_initialism_then_sentence_opener_splits():
    t = "They are forced into labor once in P. R. C. The D. P. R. K. 's system includes camps."
    assert texts(t) == ["They are forced into labor once in P. R. C.", "The D. P. R. K. 's system includes camps."]


def test_abbreviations_keep_sentence_whole():
    t = "The U.S. Department of State wrote it. See Art. 50 and Mr. Kim. It ended."
    assert texts(t) == ["The U.S. Department of State wrote it.", "See Art. 50 and Mr. Kim.", "It ended."]


def test_question_and_exclamation_marks_end_sentences():
    assert texts('Is it? "Yes!" It is.') == ["Is it?", '"Yes!"', "It is."]


def test_short_header_lines_are_separate_sentences():
    t = "Publisher United States Department of State\nAuthor Office to Monitor\nPublication Date 12 June 2007"
    assert len(texts(t)) == 3


def test_wrapped_long_lines_are_not_split():
    t = "This sentence is wrapped across two lines because the source was typed at a\nFixed width of eighty columns."
    assert texts(t) == [t]


def test_real_report_paragraph(report):
    body = report.text
    start = body.index("The D. P. R. K. made no discernable")
    end = body.index("rather than to combat trafficking in persons.") + len(
        "rather than to combat trafficking in persons."
    )
    found = [body[s:e] for s, e in sentences(body, start, end)]
    assert len(found) == 11
    assert found[2] == "Article 50 of the Penal Code criminalizes the abduction, sale, or trafficking of children."
    assert found[7] == "Fair and transparent trials do not occur in the D. P. R. K."


def test_paragraphs_trim_and_split_on_blank_lines():
    t = "  One.\n\n\n Two.\nStill two.\n \nThree."
    assert [t[s:e] for s, e in paragraphs(t)] == ["One.", "Two.\nStill two.", "Three."]


@given(st.text(alphabet=st.sampled_from(list("ab .?!\n\"'PRC")), max_size=300))
def test_sentences_are_ordered_disjoint_and_cover_all_text(text):
    spans = sentences(text)
    for (_, e1), (s2, _) in pairwise(spans):
        assert e1 <= s2
    for s, e in spans:
        assert s < e and not text[s].isspace() and not text[e - 1].isspace()
    covered = "".join(text[s:e] for s, e in spans)
    assert covered.replace(" ", "").replace("\n", "") == "".join(text.split())
