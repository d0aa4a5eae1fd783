"""How much text the near-duplicate check sees shared: each report against itself in other formats, and
against the other reports (`python -m bench.near_duplicates`).

A report is refused as a near-duplicate when `rag.ingest.uploads.near_duplicate_share` reaches
`NEAR_DUPLICATE`; this prints the share of every shipped report with its own PDF and HTML renderings,
and the highest share (printed as "overlap") between two different reports, so the threshold can be
seen to sit between them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rag.ingest.files import load_document
from rag.ingest.uploads import NEAR_DUPLICATE, indexed_text, near_duplicate_share, shingles
from rag.settings import DEFAULT_CORPUS
from rag.types import Document
from tests.pdfs import report_pdf

REPORTS = Path(__file__).resolve().parents[1] / "eval" / "data" / "reports"


def renderings(doc: Document, folder: Path) -> dict[str, Document]:
    """The report printed to PDF (hard-wrapped, paged) and written as HTML (one <p> per paragraph)."""
    pdf = folder / f"{doc.doc_id}.pdf"
    pdf.write_bytes(report_pdf(doc.text))
    html = folder / f"{doc.doc_id}.html"
    html.write_text("<html><body>" + "".join(f"<p>{p}</p>" for p in doc.text.split("\n\n")) + "</body></html>")
    return {"pdf": load_document(pdf), "html": load_document(html)}


def main() -> None:
    paths = [*sorted(DEFAULT_CORPUS.glob("*.txt")), *sorted(REPORTS.glob("*.txt"))]
    docs = [load_document(p) for p in paths]
    print(f"threshold {NEAR_DUPLICATE}")
    print("| report | as PDF | as HTML |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for doc in docs:
            own = shingles(indexed_text(doc))
            other = {
                k: near_duplicate_share(own, shingles(indexed_text(v)))
                for k, v in renderings(doc, Path(scratch)).items()
            }
            print(f"| {doc.doc_id} | {other['pdf']:.3f} | {other['html']:.3f} |")
    pairs = [
        (near_duplicate_share(shingles(indexed_text(a)), shingles(indexed_text(b))), a.doc_id, b.doc_id)
        for i, a in enumerate(docs)
        for b in docs[i + 1 :]
    ]
    score, a, b = max(pairs)
    print(f"highest overlap between two different reports: {score:.3f} ({a} / {b})")


if __name__ == "__main__":
    main()
