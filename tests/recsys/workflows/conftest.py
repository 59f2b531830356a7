"""Tiny seeded stage outputs (data -> windows -> retrieval -> random-encoder datastore) for workflow tests."""

from __future__ import annotations

import pytest

from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
from liftrec.recsys.data.sequences import WindowConfig, build_windows
from liftrec.recsys.data.split import SplitConfig, split_by_time
from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic
from liftrec.recsys.models.encoder import EncoderConfig
from liftrec.recsys.retrieval.bm25 import BM25Config
from liftrec.recsys.retrieval.datastore import DatastoreConfig
from liftrec.recsys.workflows.context import encode_contexts, retrieve_for_targets
from liftrec.recsys.workflows.models import ModelData
from liftrec.recsys.workflows.pretrain import seeded_encoder

LENGTH = 6


@pytest.fixture(scope="session")
def tiny_stages() -> dict:
    df, schema = generate_synthetic(
        SyntheticConfig(num_users=60, num_items=200, num_categories=10, interactions_per_user=25.0), seed=3
    )
    df, _ = split_by_time(df, SplitConfig(), schema.time_unit)
    rows = sample_negatives(df, schema, NegativeConfig(), seed=3)
    windows = build_windows(rows, WindowConfig(length=LENGTH))
    retrieved, _ = retrieve_for_targets(rows, schema, BM25Config(k=4))
    encoder = seeded_encoder(EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, max_len=LENGTH), schema, 3)
    store, own, _ = encode_contexts(encoder, rows, windows, schema, LENGTH, DatastoreConfig(dtype="float32"))
    return {"rows": rows, "schema": schema, "windows": windows, "retrieved": retrieved, "datastore": store,
            "target_hist": own}  # fmt: skip


@pytest.fixture
def tiny_data(tiny_stages: dict) -> ModelData:
    s = tiny_stages
    return ModelData(s["rows"], s["schema"], windows=s["windows"], length=LENGTH, retrieved=s["retrieved"],
                     datastore=s["datastore"], target_hist=s["target_hist"])  # fmt: skip
