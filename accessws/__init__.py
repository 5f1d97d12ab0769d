"""accessws package."""
