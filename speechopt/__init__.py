"""speechopt: make trained speech models fast, and prove with measurements what each step costs."""

__version__ = "0.1.0"
