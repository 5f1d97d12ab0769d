"""matchengine package."""
