"""Model architectures, registered by name. Importing this package imports no torch."""

from speechopt.models.registry import build_model, get_architecture, list_architectures

__all__ = ["build_model", "get_architecture", "list_architectures"]
