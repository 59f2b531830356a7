"""liftrec: LIFT (Look into the Future, KDD 2025) as a Kedro project over a framework-free library."""

__version__ = "0.1.0"
