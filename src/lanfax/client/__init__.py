"""lanfax.client."""
