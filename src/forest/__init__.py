"""Forest: public bid notice boards, crawled and served."""

__version__ = "0.1.0"
