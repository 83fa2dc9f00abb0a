"""Building models (imports torch): checkpoints, one loader per wrapper type, the load
pipeline, the output contract, preprocessing and the declared-vs-built check.

This package's ``__init__`` imports nothing, so :mod:`zoo.loading.indices` stays torch-free.
"""
