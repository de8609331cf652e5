"""One module per ``engage`` sub-command; each exposes ``register(subparsers)``."""
