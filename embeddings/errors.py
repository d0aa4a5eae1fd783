"""The error every model loader raises (the embedder here, the generators in `rag`): the lowest layer owns it."""


class ModelLoadError(RuntimeError):
    """A model (embedder or generator) that could not be loaded; the message says which and what to do."""
