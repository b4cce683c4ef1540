"""Human review in Argilla: what gets published, and what comes back."""
