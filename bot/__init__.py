"""donorbot: thank your donors and show momentum, every month."""

__all__ = ["__version__"]

__version__ = "0.1.0"
