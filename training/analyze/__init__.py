"""`sleeve analyze`: why genres collide (map, clusters, trees, pair separation) and its page."""
