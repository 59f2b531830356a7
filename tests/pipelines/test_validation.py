"""Bad parameters fail before any node runs, with one message naming the parameter; nothing is written."""

from __future__ import annotations

import pytest

from liftrec.pipelines.params import validate_parameters
from liftrec.recsys.errors import ConfigError
from tests.pipelines.conftest import outputs, run_session

# (runtime parameters, text the error must contain)
BAD = [
    ({"pretrain": {"mask_ratio": 1.5}}, "pretrain.mask_ratio"),
    ({"pretrain": {"mask_ratio": 0.0}}, "pretrain.mask_ratio"),
    ({"retrieval": {"k": 0}}, "retrieval.k"),
    ({"windows": {"length": 0}}, "windows.length"),
    ({"windows": {"length": 200}}, "pretrain.encoder.max_len"),
    ({"pretrain": {"encoder": {"kindd": "gru"}}}, "pretrain.encoder.kindd"),
    ({"pretrain": {"encoder": {"kind": "lstm"}}}, "pretrain.encoder.kind"),
    ({"train": {"lift": {"use_futur": False}}}, "train.lift.use_futur"),
    ({"train": {"training": {"lr": "fast"}}}, "train.training.lr"),
    ({"train": {"model": "nope"}}, "nope"),
    ({"retrieval": {"query_fields": ["price"]}}, "retrieval.query_fields"),
    ({"retrieval": {"idf": "bm42"}}, "retrieval.idf"),
    ({"retrieval": {"engine": "faiss"}}, "retrieval.engine"),
    ({"retrieval": {"min_future": -1}}, "retrieval.min_future"),
    ({"pretrain": {"next_field": "colour"}}, "pretrain.next_field"),
    ({"dataset": "netflix"}, "netflix"),
    ({"task": "rating"}, "task"),
    ({"split": {"mode": "random"}}, "split.mode"),
    ({"split": {"quantiles": [0.9, 0.5]}}, "split.quantiles"),
    ({"negatives": {"ctr_own_history_prob": 2.0}}, "negatives.ctr_own_history_prob"),
    ({"ingest": {"fields": ["user", "item", "colour"]}, "dataset": "taobao"}, "colour"),
    ({"synthetic": {"num_users": -5}}, "synthetic.num_users"),
    ({"device": "tpu"}, "device"),
    ({"seed": -1}, "seed"),
    ({"seed": "abc"}, "seed"),
]


@pytest.mark.parametrize(("params", "needle"), BAD, ids=[b[1] for b in BAD])
def test_bad_parameter_fails_before_any_node_runs(project, params, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        run_session(project, params=params)
    assert outputs(project) == []  # nothing written, not even the ingestion output


def test_default_parameters_validate(project):
    from kedro.config import OmegaConfigLoader

    for env in ("local", "test"):
        loader = OmegaConfigLoader("conf", base_env="base", default_run_env=env,
                                   merge_strategy={"parameters": "soft"})  # fmt: skip
        validate_parameters(loader["parameters"])


def test_k_larger_than_the_retrieval_set_is_named_before_pretraining(project):
    with pytest.raises(
        ConfigError, match=r"parameter 'retrieval\.k': K = 10000000 exceeds the retrieval set"
    ):
        run_session(project, params={"retrieval": {"k": 10**7}})
    written = outputs(project)
    assert any("split_interactions" in p for p in written)  # checked as the negatives are drawn...
    assert not any("encoder" in p or "retrieved" in p for p in written)  # ...before pretraining


def test_k_is_checked_against_a_reused_data_stage_before_any_node(project):
    run_session(project, "data_processing")
    before = outputs(project)
    with pytest.raises(ConfigError, match=r"retrieval\.k"):
        run_session(project, params={"retrieval": {"k": 10**7}})
    assert outputs(project) == before  # nothing ran


def test_device_message_names_the_parameter_once():
    from liftrec.pipelines.params import _validate_model_stages

    with pytest.raises(ConfigError) as e:
        _validate_model_stages({"device": "tpu"})
    assert str(e.value).count("parameter 'device'") == 1
