"""Per-container state on disk under --root: one directory per container."""
