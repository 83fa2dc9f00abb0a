"""Drop-in APIs of other libraries, built on zoo's loader.

``zoo.compat.eva``: eva's backbone registry, model wrappers and output transforms,
so code and configs written for eva run with only their imports (or ``class_path``) changed.
"""
