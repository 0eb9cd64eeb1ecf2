"""Glassbox core: models, data, training, decoding, metrics and figures, with no UI code.

Pages in `labs/` and the command line (`python -m core`) are thin layers over this package.
"""
