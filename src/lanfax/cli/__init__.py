"""lanfax.cli."""
