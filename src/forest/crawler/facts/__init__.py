"""Tender facts read from a notice body: deadline, opening, amount, method, bodies, category, with evidence.

A pure function of text (no network, no database); see docs/facts.md for the forms it reads.
"""

from forest.crawler.facts.extract import extract
from forest.crawler.facts.model import AMOUNT_KINDS, CATEGORIES, AmountKind, Category, Evidence, TenderFacts
from forest.crawler.facts.roles import KIND_ORDER

__all__ = ["AMOUNT_KINDS", "CATEGORIES", "KIND_ORDER", "AmountKind", "Category", "Evidence", "TenderFacts", "extract"]
