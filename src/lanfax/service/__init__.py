"""lanfax.service."""
