"""abnb: assess software and ML quality in production, from a notebook."""
