"""lanfax.routing."""
