"""``zoo verify``: each entry against its authors' own recipe (:mod:`zoo.verify.recipe`)."""
