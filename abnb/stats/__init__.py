"""Statistics from sufficient statistics."""
