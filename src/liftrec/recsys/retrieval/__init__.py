"""Retrieval for LIFT: the BM25 retriever R (``bm25``: fast exact engine; ``oracle``: rank-bm25
reference used in tests) and the datastore of retrieval-set keys and context values.
"""
