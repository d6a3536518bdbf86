"""quadmimic package."""
