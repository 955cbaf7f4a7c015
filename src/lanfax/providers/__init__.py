"""lanfax.providers."""
