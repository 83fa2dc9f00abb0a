"""``zoo embed`` on whole-slide images: open a slide (OpenSlide), find its tissue, cut it into tiles
at the encoder's microns per pixel, read them in data-loader workers, write the features with
each tile's level-0 coordinates (zoo's shards, or one TRIDENT-layout ``.h5`` per slide) and a
thumbnail showing the tissue and the tiles."""
