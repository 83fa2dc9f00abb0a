"""The reference recipes, one module per family of entries (see :mod:`zoo.verify.recipe`).

Each module registers its recipes when imported and imports no library at import time.
"""
