"""``python -m quadmimic``: same as the ``quadmimic`` console command."""

from quadmimic.cli import main

main()
