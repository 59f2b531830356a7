"""Stage-level functions composing the library: what each pipeline stage does, without Kedro.

Each takes the canonical artefacts (rows table, windows, schema, encoder state...) and typed
configs, and returns arrays and metric dicts. The Kedro nodes are thin wrappers over these; a
notebook or a GPU machine without Kedro calls them directly.
"""
