"""Enforcement: reports, the review queue, sanctions, credit, statements of reasons, appeals."""
