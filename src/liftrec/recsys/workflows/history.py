"""History selections of the retrieval-style baselines: SIM's category hard search, UBR4CTR's BM25.

The selection parameters live in the model's config (so a typo is rejected with the model's
parameters); this module turns them into the ``HistoryFn`` of :mod:`liftrec.recsys.models.batch`.
"""

from __future__ import annotations

import logging
from typing import Any

from liftrec.recsys.data.history_select import field_idf, make_history_fn
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.batch import HistoryFn
from liftrec.recsys.schema import RETRIEVAL, USER_ID, Schema, category_field

logger = logging.getLogger(__name__)


def selected_history(mode: str, cfg: Any, data: Any) -> HistoryFn:
    """The history function of a model whose ``history_selection`` is "category" (SIM) or "bm25" (UBR4CTR).

    Args:
        mode: "category" or "bm25".
        cfg: the model's config (``category_field`` / ``query_fields``, ``max_candidates``, ``idf``).
        data: the :class:`~liftrec.recsys.workflows.models.ModelData`.
    """
    if data.windows is None:
        raise ConfigError("a model reading 'hist' needs the windows")
    schema: Schema = data.schema
    fields = list(schema.fields)
    users = data.rows[USER_ID].to_numpy()
    common = {"length": data.length, "max_candidates": cfg.max_candidates}
    if mode == "category":
        name = cfg.category_field
        if name not in fields:  # SIM's default names 'category': fall back to the category-like field
            try:
                name = category_field(schema, "auto")
            except ConfigError as e:
                raise ConfigError(
                    f"parameter 'category_field': '{cfg.category_field}' is not a field and {e}"
                ) from None
            logger.info(
                "SIM: no field '%s' in %s, searching by '%s'", cfg.category_field, schema.dataset, name
            )
        idx = fields.index(name)
        return make_history_fn(data.X, users, dict(data.windows), mode="category", field_index=idx, **common)
    if mode == "bm25":
        names = list(cfg.query_fields) or list(schema.query_fields)
        missing = [f for f in names if f not in fields]
        if missing:
            raise ConfigError(f"parameter 'query_fields': {missing} not in the dataset's fields {fields}")
        qidx = [fields.index(f) for f in names]
        idf = field_idf(data.X[data.period == RETRIEVAL][:, qidx], cfg.idf)
        return make_history_fn(data.X, users, dict(data.windows), mode="bm25", query_field_idx=qidx, idf=idf,
                               **common)  # fmt: skip
    raise ConfigError(f"unknown history selection {mode!r}; expected recent, category or bm25")
