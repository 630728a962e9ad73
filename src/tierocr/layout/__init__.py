"""Page structure: reading order and blocks without a model, and layout detection (layout mode)."""
