"""Evaluation: metrics (:mod:`metrics`), streaming aggregation (:mod:`aggregate`), peers and the benchmark."""
