"""lanfax.store."""
