"""Image models shared by every layer: backbones, augmentation, embeddings and their cache,
and covers as samples (torch; imported only where pictures are encoded)."""
