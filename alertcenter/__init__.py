"""alertcenter package."""
