"""The catalogue: reading manifests safely, finding them by name, listing and validating them.

No torch and no network here: ``zoo list``, ``show`` and ``validate`` live on this package.
"""
