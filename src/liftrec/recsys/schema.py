"""Column names and the schema record of the canonical data contract (DESIGN.md), defined once.

The canonical ``rows`` table has one row per interaction (positives and sampled negatives),
sorted by user then time, with ``row_id`` equal to the row's position, so windows of row ids
index feature arrays directly. Categorical fields are int64 dense codes, 0 reserved for
padding / unknown; each field has its own code space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ROW_ID = "row_id"
USER_ID = "user_id"  # dense user code, equal to the code of the schema's user field
TS = "ts"  # int64 seconds (or the dataset's own monotone time unit, see the loader)
LABEL = "label"  # int8, 1 = positive (every raw interaction), 0 = sampled negative
PERIOD = "period"  # int8, one of PERIODS' values
GROUP_ID = "group_id"  # row_id of the positive a row belongs to (its candidate group for top-N)
SCORED = "scored"  # int8, 1 = a target: a train / valid / test row of a candidate group that is scored

RETRIEVAL, TRAIN, VALID, TEST = 0, 1, 2, 3
PERIODS = {"retrieval": RETRIEVAL, "train": TRAIN, "valid": VALID, "test": TEST}

PAD = -1  # padding value inside windows of row ids


def query_fields_of(schema: Schema, wanted: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """The BM25 query fields a run asks for: None -> the dataset's default (``schema.query_fields``,
    the reference code's subset), "all" -> every field of x_t (the paper), else the list given."""
    if wanted is None:
        return tuple(schema.query_fields)
    if wanted == "all":
        return tuple(schema.fields)
    return tuple(wanted)


def target_mask(rows: pd.DataFrame) -> np.ndarray:
    """(N,) bool: the rows that are targets (scored), i.e. the ``scored`` column.

    A rows table without that column (hand-built ones) scores every train / valid / test row.
    ``negatives.target_fraction`` < 1 leaves some later-period positives unscored: they stay in the
    table, so they still appear in histories, but no model is trained or evaluated on them.
    """
    if SCORED in rows.columns:
        return rows[SCORED].to_numpy() == 1
    return np.asarray(rows[PERIOD].to_numpy() != RETRIEVAL)


@dataclass(frozen=True)
class Schema:
    """Describes the categorical fields of one dataset.

    Attributes:
        dataset: dataset name.
        fields: field names in column order (the model's M fields).
        cardinalities: per field, number of codes including 0 (padding / unknown).
        user_fields: fields that describe the user (kept when a negative replaces the item).
        item_fields: fields that describe the item (replaced as a tuple when sampling negatives).
        context_fields: the rest (behaviour type, time context...).
        user_field: the field holding the user id.
        item_field: the field holding the item id.
        query_fields: fields that form the BM25 query.
        time_unit: what ``ts`` counts ("s" for unix seconds, or a dataset-specific unit).
    """

    dataset: str
    fields: tuple[str, ...]
    cardinalities: tuple[int, ...]
    user_fields: tuple[str, ...]
    item_fields: tuple[str, ...]
    context_fields: tuple[str, ...] = ()
    user_field: str = "user"
    item_field: str = "item"
    query_fields: tuple[str, ...] = ()
    time_unit: str = "s"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_fields(self) -> int:
        return len(self.fields)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kw)


def category_field(schema: Schema, wanted: str = "auto") -> str:
    """The field standing for an item's category.

    Args:
        schema: the dataset's schema.
        wanted: a field name, or "auto": "category" when the dataset has it, else its first item-side
            field other than the item id (genre for MovieLens, artist for Last.fm).

    Raises:
        ConfigError: when ``wanted`` is not a field, or "auto" finds none.
    """
    from liftrec.recsys.errors import ConfigError

    if wanted != "auto":
        if wanted not in schema.fields:
            raise ConfigError(f"'{wanted}' is not a field of {schema.dataset}: {list(schema.fields)}")
        return wanted
    if "category" in schema.fields:
        return "category"
    others = [f for f in schema.item_fields if f != schema.item_field]
    if not others:
        raise ConfigError(
            f"{schema.dataset} has no category-like field (no item-side field besides the item id)"
        )
    return others[0]
