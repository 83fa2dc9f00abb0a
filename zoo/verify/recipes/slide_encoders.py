"""Slide encoders (``input.kind: tiles``): proven outside ``zoo verify``, which compares image
encoders on images.

Each architecture is compared with the authors' computation on random bags, with random weights
written in the authors' checkpoint layout and loaded through ``zoo.load``: the tests in
``tests/nn/test_slide_*.py`` against the re-expressions in ``tests/nn/slide_reference.py`` and
``tests/nn/mahmood_*_reference.py`` / ``tests/nn/katherlab_cobra_reference.py``
(each written from the authors' code at the commit its docstring cites). They are declared here
so that ``zoo verify --list`` says where their proof is.
"""

from __future__ import annotations

from zoo.verify.recipe import gap

_WHERE = (
    "a slide encoder (a bag of tile features in, not an image): zoo verify compares image "
    "encoders; this one is compared with a re-expression of the authors' code on random bags in "
    "{test} (random weights in the released layout, loaded through zoo.load)"
)

for name, test in (
    ("pathology/chief_slide", "tests/nn/test_slide_chief.py"),
    ("pathology/katherlab_cobra2_conch", "tests/nn/test_slide_katherlab_cobra.py"),
    ("pathology/katherlab_cobra2_uni", "tests/nn/test_slide_katherlab_cobra.py"),
    ("pathology/katherlab_cobra2_virchow2", "tests/nn/test_slide_katherlab_cobra.py"),
    ("pathology/katherlab_cobra_ctranspath", "tests/nn/test_slide_katherlab_cobra.py"),
    ("pathology/katherlab_cobra_uni", "tests/nn/test_slide_katherlab_cobra.py"),
    ("pathology/katherlab_cobra_virchow2", "tests/nn/test_slide_katherlab_cobra.py"),
    ("pathology/mahmood_feather_conch_v15", "tests/nn/test_slide_feather.py"),
    ("pathology/mahmood_feather_uni", "tests/nn/test_slide_feather.py"),
    ("pathology/mahmood_feather_uni2_h", "tests/nn/test_slide_feather.py"),
    ("pathology/mahmood_madeleine", "tests/nn/test_slide_mahmood_madeleine.py"),
    ("pathology/mahmood_tangle", "tests/nn/test_slide_mahmood_tangle.py"),
    ("pathology/mahmood_titan", "tests/nn/test_slide_titan.py"),
    ("pathology/moozy_slide", "tests/nn/test_slide_moozy.py"),
    ("pathology/paige_prism", "tests/nn/test_slide_prism.py"),
    ("pathology/prov_gigapath_slide", "tests/nn/test_slide_gigapath.py"),
):
    gap(name, _WHERE.format(test=test))
