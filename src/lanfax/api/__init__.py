"""lanfax.api."""
