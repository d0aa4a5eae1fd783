"""The application layer: builds the product from Settings and runs the `rag` command.

Nothing in `rag`, `embeddings`, `ui`, `eval` or `bench` imports `app` except what runs a command
(`eval`'s subcommands and the benchmarks build through `app.build`); the core never does.
"""
