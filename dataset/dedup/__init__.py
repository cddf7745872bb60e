"""Duplicate detection: perceptual hashes, neighbours and groups, and the visual stage
(embeddings, look-alike candidates, geometric and text checks)."""
