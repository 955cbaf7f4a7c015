"""lanfax.engine."""
