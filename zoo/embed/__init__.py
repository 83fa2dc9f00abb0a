"""``zoo embed``: inputs (images, volumes), rows, shards, the writer, the reader, and the output folder it owns.

This package's ``__init__`` imports nothing, so reading embeddings metadata stays cheap.
"""
