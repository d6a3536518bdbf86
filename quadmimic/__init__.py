"""quadmimic: the command line and the demo that run the whole pipeline."""
