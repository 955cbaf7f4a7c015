"""lanfax.web."""
