"""Cover attributes: measurable properties of each picture, computed once and cached.

Each extractor (``colour``, ``texture``, ``structure``, ``faces``, ``style``) turns one decoded
cover into a few named values, each documented with its definition and range in ``FIELDS`` of
its module. ``text_share`` is derived from the OCR cache instead (no second text detector).
``registry`` names them, ``compute`` runs them over files (worker processes, bad files counted),
``store`` caches them in the catalog by (sha256, extractor, version).
"""
