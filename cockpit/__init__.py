"""cockpit: a terminal trading cockpit for leveraged crypto portfolios."""

__version__ = "0.1.0"
