"""The Kedro layer: thin nodes and declarative pipelines over ``liftrec.recsys``."""
