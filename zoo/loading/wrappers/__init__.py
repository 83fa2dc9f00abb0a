"""One module per wrapper type, each with ``build(manifest, ctx) -> (module, adapter)``, imported on demand."""
