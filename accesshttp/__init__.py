"""accesshttp package."""
