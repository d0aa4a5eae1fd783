import json

import pytest

from rag.ingest import IngestError, content_spans, header_metadata, load_document, load_documents
from tests.fakes import write


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds `lines` (built by hand, offsets computed)."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td"]
    for line in lines:
        ops += [f"({line}) Tj", "0 -16 Td"]
    ops.append("ET")
    stream = "\n".join(ops).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (A PDF report) /Author (Ministry of Examples) >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_report_header_metadata(report):
    assert report.title == "U.S. Department of State 2007 Trafficking in Persons Report - North Korea"
    assert report.publisher == "United States Department of State"
    assert report.author == "Office to Monitor and Combat Trafficking in Persons"
    assert report.date == "12 June 2007"
    assert report.country == "North Korea"
    assert dict(report.extra)["tier"] == "Tier 3"
    assert report.doc_id.startswith("tip-2007-north-korea-")


def test_report_text_is_byte_exact(report):
    from tests.fakes import REPORT_PATH

    assert report.text == REPORT_PATH.read_text(encoding="utf-8")


def test_report_spans_leave_out_site_furniture(report):
    indexed = "".join(report.text[s:e] for s, e in report.spans)
    assert "Last Updated" not in indexed
    assert "Search Refworld" not in indexed
    assert "Cite as" not in indexed
    assert indexed.startswith("U.S. Department of State 2007")
    assert indexed.endswith("North Korea has not ratified the 2000 UN TIP Protocol.")


def test_content_spans_are_offsets_into_the_original():
    text = "Last Updated: x\n\nBody one.\nSearch Refworld\nBody two."
    assert [text[s:e] for s, e in content_spans(text)] == ["Body one.", "Body two."]


def test_header_metadata_of_plain_text():
    meta = header_metadata("My Report\n\nPublisher Some Ministry\nCountry Chad\n\nText.")
    assert meta == {"title": "My Report", "publisher": "Some Ministry", "country": "Chad"}


def test_markdown_and_sidecar_metadata(tmp_path):
    plain = load_document(write(tmp_path, "plain.md", "# Annual review\n\nThe review found progress."))
    assert plain.title == "Annual review"
    path = write(tmp_path, "notes.md", "# Annual review\n\nThe review found progress.")
    write(tmp_path, "notes.md.meta.json", json.dumps({"title": "Review 2020", "country": "Chad", "date": "2020"}))
    doc = load_document(path)
    assert (doc.title, doc.country, doc.date) == ("Review 2020", "Chad", "2020")


def test_html_text_and_metadata(tmp_path):
    html = """<html><head><title>Country Report</title><meta name="author" content="Rights Office">
    <script>alert('x')</script><style>p{color:red}</style></head>
    <body><nav>Home | About</nav><h1>Findings</h1><p>Workers were <b>not</b> paid.</p>
    <p>Camps exist.</p><footer>Copyright</footer></body></html>"""
    doc = load_document(write(tmp_path, "r.html", html))
    assert doc.title == "Country Report"
    assert doc.author == "Rights Office"
    assert "Workers were" in doc.text and "not" in doc.text and "Camps exist." in doc.text
    for noise in ("alert", "color:red", "Home | About", "Copyright"):
        assert noise not in doc.text


def test_pdf_text_and_metadata(tmp_path):
    doc = load_document(write(tmp_path, "r.pdf", minimal_pdf(["Forced labor was reported.", "Camps remain."])))
    assert "Forced labor was reported." in doc.text
    assert doc.title == "A PDF report"
    assert doc.author == "Ministry of Examples"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bin.txt", b"\x00\x01\x02binary" * 50, "binary"),
        ("empty.txt", b"   \n\n", "no text"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("table.csv", b"a,b\n1,2\n", "unsupported"),
    ],
)
def test_bad_files_raise_a_clear_error(tmp_path, name, content, reason):
    with pytest.raises(IngestError, match=reason):
        load_document(write(tmp_path, name, content))


def test_folder_ingest_skips_bad_files_and_keeps_the_rest(tmp_path):
    write(tmp_path, "a.txt", "Report A.\n\nIt says things.")
    write(tmp_path, "sub/b.md", "Report B says other things.")
    write(tmp_path, "sub/bad.txt", b"\x00\x00\x00")
    write(tmp_path, "sub/copy.txt", "Report A.\n\nIt says things.")
    write(tmp_path, "ignored.json", "{}")
    docs, skipped = load_documents([tmp_path])
    assert sorted(d.title for d in docs) == ["a", "b"]
    assert sorted(s.path.name for s in skipped) == ["bad.txt", "copy.txt"]


def test_doc_ids_are_stable_and_content_derived(tmp_path):
    a = load_document(write(tmp_path, "x.txt", "Same text."))
    b = load_document(write(tmp_path, "x.txt", "Same text."))
    c = load_document(write(tmp_path, "x.txt", "Other text."))
    assert a.doc_id == b.doc_id != c.doc_id


def test_oversized_file_is_refused(tmp_path):
    with pytest.raises(IngestError, match="over the limit"):
        load_document(write(tmp_path, "big.txt", "x" * 2000), max_bytes=1000)
