"""The liftrec library: data, models, retrieval, training and evaluation.

Imports only torch, numpy, pandas and pyarrow (numba optionally, for the BM25 engine): no kedro and
no mlflow, so it runs in a notebook or on a GPU machine without the Kedro layer.
"""
