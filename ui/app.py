"""The web app: a Gradio page over the retriever, mounted in a FastAPI server."""

from __future__ import annotations

from typing import Any

from rag.retrieve import Retriever
from rag.settings import Settings
from ui.render import header_html, passages_html

CSS = """
.rr-docs {font-size: 0.9rem; margin-bottom: 0.5rem}
.rr-passages {padding-left: 0; list-style: none}
.rr-passage {border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem; margin: 0.5rem 0}
.rr-meta {font-size: 0.8rem; color: #555; margin-bottom: 0.3rem}
.rr-text {white-space: pre-wrap}
"""

EXAMPLES = [
    "What work are prison camp inmates forced to do?",
    "Which European country ended its program for North Korean workers?",
    "Has North Korea ratified the 2000 UN TIP Protocol?",
]


def build_blocks(retriever: Retriever, settings: Settings) -> Any:
    """The Gradio page: type a question, see the ranked passages."""
    import gradio as gr

    def search(query: str) -> str:
        query = (query or "").strip()
        if not query:
            return '<p class="rr-empty">Type a question to see the passages that answer it.</p>'
        if len(query) > settings.max_question_chars:
            return f'<p class="rr-empty">The question is too long (limit {settings.max_question_chars} characters).</p>'
        return passages_html(retriever.search(query, settings.top_k))

    with gr.Blocks(title="report-rag") as blocks:
        gr.Markdown("## report-rag")
        gr.HTML(header_html(list(retriever.index.documents.values())))
        query = gr.Textbox(label="Question", placeholder="Ask about the report…", elem_id="rr-question")
        button = gr.Button("Search", variant="primary")
        results = gr.HTML(elem_id="rr-results")
        gr.Examples(EXAMPLES, inputs=query)
        button.click(search, query, results, api_name="search")
        query.submit(search, query, results, api_visibility="private")
    return blocks


def create_app(retriever: Retriever, settings: Settings) -> Any:
    """FastAPI with the Gradio page at / and the health route."""
    import gradio as gr
    from fastapi import FastAPI

    app = FastAPI(title="report-rag")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "documents": len(retriever.index.documents),
            "chunks": len(retriever.index.chunks),
            "embedder": retriever.embedder.name,
        }

    return gr.mount_gradio_app(app, build_blocks(retriever, settings), path="/", css=CSS, footer_links=[])


def serve(settings: Settings) -> None:
    """Load the models and index, then serve until interrupted."""
    import sys

    import uvicorn

    from rag import factory

    retriever = factory.make_retriever(settings, say=lambda m: print(m, file=sys.stderr))
    app = create_app(retriever, settings)
    print(f"report-rag is serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
