"""Cover attributes: measurable properties of each picture, computed once and cached.

Each extractor (``colour``, ``texture``, ``structure``, ``faces``) turns one decoded cover into
a few named numbers, each documented with its definition and range in ``FIELDS`` of its module.
``registry`` names them, ``compute`` runs them over files (worker processes, bad files counted),
``store`` caches them in the catalog by (sha256, extractor, version).
"""
