import pytest

from rag.ingest.fields import header_fields, header_lines
from rag.ingest.files import content_spans, header_metadata, load_document
from rag.ingest.sentences import paragraphs
from rag.types import Chunk
from tests.fakes import REPORT_PATH

STATE_GOV = (
    "Country Narratives -- Countries H through P\n\nTrafficking in Persons Report\n"
    "Office to Monitor and Combat Trafficking in Persons\nJune 12, 2007\n\n"
    "HONDURAS (Tier 2 Watch List)\n\nHonduras is a source and transit country."
)


def test_the_default_report_s_header_lines_with_their_exact_spans():
    text = REPORT_PATH.read_text()
    fields = {f.name: f for f in header_fields(text, content_spans(text))}
    assert {k: f.value for k, f in fields.items()} == {
        "publisher": "United States Department of State",
        "author": "Office to Monitor and Combat Trafficking in Persons",
        "date": "12 June 2007",
        "country": "North Korea",
        "tier": "Tier 3",
        "title": "U.S. Department of State 2007 Trafficking in Persons Report - North Korea",
    }
    assert text[fields["tier"].start : fields["tier"].end] == "North Korea (Tier 3)"
    assert text[fields["date"].start : fields["date"].end] == "Publication Date 12 June 2007"


def test_a_state_gov_page_header():
    meta = header_metadata(STATE_GOV)
    assert meta == {
        "country": "Honduras",  # not "Narratives -- Countries H through P": a lone "Country …" line is a heading
        "tier": "Tier 2 Watch List",
        "date": "June 12, 2007",
        "author": "Office to Monitor and Combat Trafficking in Persons",
        "title": "Trafficking in Persons Report",
    }


@pytest.mark.parametrize(
    ("line", "country", "tier"),
    [
        ("HAITI (TIER 2 - WATCH LIST)", "Haiti", "Tier 2 Watch List"),
        ("ALBANIA (TIER 2)", "Albania", "Tier 2"),
        ("BOSNIA AND HERZEGOVINA (Tier II)", "Bosnia and Herzegovina", "Tier 2"),
        ("China (Tier 2 Watchlist)", "China", "Tier 2 Watch List"),
    ],
)
def test_tier_headings_however_they_are_written(line, country, tier):
    meta = header_metadata(f"Report\n\n{line}\n\nText follows here.")
    assert (meta["country"], meta["tier"]) == (country, tier)


def test_furniture_lines_are_never_fields():
    text = "Last Updated: Friday\n\nCite as Somebody, 2007\n\nA plain paragraph of text."
    assert header_fields(text, content_spans(text)) == ()


def test_header_lines_lie_in_a_passage_of_their_report():
    doc = load_document(REPORT_PATH)
    chunks = [Chunk(f"c{i}", doc.doc_id, doc.text[s:e], s, e, i) for i, (s, e) in enumerate(paragraphs(doc.text))]
    lines = header_lines(doc, chunks)
    assert {f.name for line in lines for f in line.fields} >= {"publisher", "author", "date", "tier", "country"}
    for line in lines:
        assert line.chunk.start <= line.start < line.end <= line.chunk.end
    (tier,) = [line for line in lines if line.value("tier")]
    assert tier.value("country") == "North Korea" and doc.text[tier.start : tier.end] == "North Korea (Tier 3)"
