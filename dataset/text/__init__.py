"""The words on covers: OCR, the cached cover text, its CLI and the artist evidence stage."""
