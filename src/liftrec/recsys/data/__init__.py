"""Data preparation: raw loaders (one per official format), the synthetic generator, the global
temporal split, negative sampling and sequence windows, all producing or consuming the canonical
``rows`` table described in :mod:`liftrec.recsys.schema`.
"""
