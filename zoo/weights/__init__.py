"""Weights: where a checkpoint's bytes are, how to fetch and verify them (no torch here).

:mod:`zoo.weights.sources` is the one place that decides, per checkpoint kind, where
the files are locally, how to fetch them, which files they are and which hash vouches
for each; everything else asks it.
"""
