"""Everything the product is made of, built from Settings in one place.

`rag serve`, `rag ask`, `rag search`, the evaluation harness, the benchmarks and the tests (with
fakes injected for the embedder and the generator) all get their parts from `build`; nothing else
constructs a Pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from app import generators, indexing
from embeddings.encoder import Embedder
from rag.answer.abstain import AbstainModel
from rag.answer.pipeline import Pipeline
from rag.answer.statistics import index_statistics
from rag.generate.protocol import Generator
from rag.index.retrieve import Retriever
from rag.index.store import CorpusIndex
from rag.settings import Settings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Application:
    """The built product: its settings and its answer pipeline (retriever, generator, checks)."""

    settings: Settings
    pipeline: Pipeline

    def service(self) -> Any:
        """The answer service the web app asks through (one answer at a time, a bounded line)."""
        from ui.service import AnswerService

        server = self.settings.server
        return AnswerService(self.pipeline, server.max_queue, server.queue_timeout_s)

    def web(self, service: Any = None) -> Any:
        """The web app: JSON API, widget script, the Gradio chat, report uploads and feedback."""
        from app.library import ReportLibrary
        from rag.feedback import open_feedback_store
        from ui.app import Contributions, create_app

        service = service or self.service()
        settings = self.settings
        embedder = self.pipeline.retriever.embedder

        def publish(index: CorpusIndex) -> None:
            service.use(pipeline_over(service.pipeline, index))

        watcher, jobs = None, None
        if settings.database:
            from app.indexing import load_shared, shared_pool
            from app.shared import BuildWatcher, SharedJobs

            pool = shared_pool(settings)
            watcher = BuildWatcher(
                pool, lambda: load_shared(settings, embedder), lambda: service.pipeline.retriever.index, publish
            )
            publish = watcher.publish
            jobs = SharedJobs(pool, settings.server.stale_job_s)
        library = ReportLibrary(
            settings, embedder, current=lambda: service.pipeline.retriever.index, publish=publish, jobs=jobs
        )
        model = generators.model_identity(settings)

        def provenance() -> dict[str, str]:
            index = service.pipeline.retriever.index
            built = {"index_build": index.path.name, "index_created": index.manifest.created}
            return built | {"embedder": index.embedder_name} | model()

        store = open_feedback_store(settings.feedback_path, settings.database)
        web = create_app(service, settings, Contributions(library, store, provenance))
        if watcher is not None:
            from ui.shared_store import add_shared_store_handlers

            add_shared_store_handlers(web, watcher.due, watcher.poll, watcher.reload)
        return web


def build(
    settings: Settings,
    say: Say = print,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    index: CorpusIndex | None = None,
) -> Application:
    """The whole product from `settings`; any part given is used instead of loading the real one."""
    embedder = embedder or indexing.make_embedder(settings)
    retriever = indexing.make_retriever(settings, say, embedder=embedder, index=index)
    generator = generator or generators.make_generator(settings, say)
    return Application(settings, make_pipeline(settings, retriever, generator))


def make_pipeline(settings: Settings, retriever: Retriever, generator: Generator) -> Pipeline:
    """The answer pipeline over a retriever's index: its IDF table and report aliases are read from it."""
    return Pipeline(
        retriever=retriever,
        generator=generator,
        config=settings.answer,
        abstain=abstain_model(settings),
        **index_statistics(retriever.index),
    )


def pipeline_over(pipeline: Pipeline, index: CorpusIndex) -> Pipeline:
    """`pipeline` (its models, checks and abstention) over another index, after reports were added or removed."""
    return replace(pipeline, retriever=replace(pipeline.retriever, index=index), **index_statistics(index))


def abstain_model(settings: Settings) -> AbstainModel:
    """The fitted abstention model named by settings (the shipped one by default); 1.0 turns abstention off."""
    group = settings.answer
    model = AbstainModel.load(group.abstain_model)
    if group.abstain_threshold is not None:
        model = replace(model, threshold=group.abstain_threshold)
    if group.support_threshold is not None:
        model = replace(model, support=group.support_threshold)
    return model
