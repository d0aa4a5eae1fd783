"""Hand-built PDFs for reader tests: pypdf cannot lay text out, and no PDF writer is installed."""

from __future__ import annotations

import textwrap


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def paged_pdf(pages: list[list[str]], info: bytes = b"<< /Title (A PDF report) >>") -> bytes:
    """A PDF with one page per item of `pages`, each line of it printed 14 points below the last.

    An empty string leaves an empty line (a blank line in the extracted text, as a paragraph gap).
    """
    n = len(pages)
    font = 3 + 2 * n  # objects: catalog, pages, then (page, content) per page, then font and info
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n)), n),
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        ops += [f"({_escape(line)}) Tj T*" if line else "T*" for line in lines]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(info)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(objects),
        xref,
    )
    return bytes(out)


HEADER = "Trafficking in Persons Report 2007"
# A report printed to PDF: a running header, "Page n of 3" footers, lines wrapped at about 75
# characters, a word hyphenated at a line's end, a sentence that runs on over a page break.
REPORT_PAGES = [
    [
        HEADER,
        "North Korea",
        "North Korea is a source country for men, women, and children trafficked for",
        "the purposes of forced labor and sexual exploitation. Many North Korean",
        "women cross the border into China.",
        "Prosecution",
        "The government made no known efforts to combat human traf-",
        "ficking through law enforcement. Prison camps hold men, women and children",
        "who are forced to do logging, mining and tending crops.",
        "Page 1 of 3",
    ],
    [
        HEADER,
        "Protection",
        "North Korean workers sent abroad under bilateral contracts with foreign",
        "governments were reportedly subjected to conditions of forced labor, with",
        "monitored movement and communications, and the threat of reprisals against",
        "Page 2 of 3",
    ],
    [
        HEADER,
        "family members at home. Their wages are paid into government accounts.",
        "- Workers are sent to logging camps in Russia.",
        "- Workers are sent to textile factories in Europe.",
        "Prevention",
        "The government did not ratify the 2000 UN TIP Protocol and did not report",
        "any efforts to prevent trafficking in persons.",
        "Page 3 of 3",
    ],
]

# What the reader makes of REPORT_PAGES: the prose, and where pages 2 and 3 begin in it.
REPORT_TEXT = (
    "North Korea\n\n"
    "North Korea is a source country for men, women, and children trafficked for the purposes of forced labor "
    "and sexual exploitation. Many North Korean women cross the border into China.\n\n"
    "Prosecution\n\n"
    "The government made no known efforts to combat human trafficking through law enforcement. Prison camps "
    "hold men, women and children who are forced to do logging, mining and tending crops.\n\n"
    "Protection\n\n"
    "North Korean workers sent abroad under bilateral contracts with foreign governments were reportedly "
    "subjected to conditions of forced labor, with monitored movement and communications, and the threat of "
    "reprisals against family members at home. Their wages are paid into government accounts.\n\n"
    "- Workers are sent to logging camps in Russia.\n\n"
    "- Workers are sent to textile factories in Europe.\n\n"
    "Prevention\n\n"
    "The government did not ratify the 2000 UN TIP Protocol and did not report any efforts to prevent "
    "trafficking in persons."
)
REPORT_PAGE_STARTS = (0, REPORT_TEXT.index("Protection"), REPORT_TEXT.index("family members at home"))


def report_pdf(text: str, width: int = 90, lines_per_page: int = 48) -> bytes:
    """`text` printed to PDF: paragraphs hard-wrapped at `width` characters, a blank line between them."""
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        lines += [*textwrap.wrap(" ".join(paragraph.split()), width), ""]
    ascii_lines = [line.encode("latin-1", "replace").decode("latin-1") for line in lines]
    pages = [ascii_lines[i : i + lines_per_page] for i in range(0, len(ascii_lines), lines_per_page)]
    return paged_pdf(pages)
