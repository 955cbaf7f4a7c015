"""lanfax.documents."""
