"""readhistory package."""
