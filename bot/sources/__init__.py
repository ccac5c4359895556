"""Donations in: one module per platform (exports and webhooks), and the import pipeline."""
