"""The one-command local exchange: `python -m deploy.launcher [run|demo]` (see `__main__`)."""
