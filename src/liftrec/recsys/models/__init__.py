"""Models: one per file, each built from a frozen config and exposing ``loss(batch)`` and scores.

``encoder`` holds LIFT's sequence encoder E (causal Transformer by default, plus the bidirectional
Transformer and GRU variants of the paper's Table 4); ``pretrainer`` the mask-behaviour model that
pretrains it. The explicit model registry lives in ``registry``.
"""
