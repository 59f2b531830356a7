"""Dense field codes, dataset specs, and assembly of the canonical interactions table.

Every field gets its own code space: codes 1..n follow the ascending order of the raw values (so
they do not depend on the file's row order) and 0 means missing / unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import LABEL, ROW_ID, TS, USER_ID, Schema

logger = logging.getLogger(__name__)

Encoded = tuple[np.ndarray, int]  # (int64 codes per row, cardinality = number of codes incl. 0)


@dataclass(frozen=True)
class DatasetSpec:
    """What a loader can produce.

    Attributes:
        name: dataset name.
        available: every field the loader can produce, canonical order.
        default_fields: the default field list (docs/datasets.md says why).
        user_fields: fields describing the user (kept when a negative replaces the item).
        item_fields: fields replaced as a tuple when sampling a negative.
        user_field: the user id field.
        item_field: the item id field.
        default_query: default BM25 query fields (PROTOCOL.md, "Retrieval in the reference code").
        default_window: default (inclusive, exclusive) unix-second time window.
        profile_fields: fields that come from an optional side file; when it is absent and the field
            list is the default, they are dropped with a warning.
    """

    name: str
    available: tuple[str, ...]
    default_fields: tuple[str, ...]
    user_fields: tuple[str, ...]
    item_fields: tuple[str, ...]
    user_field: str
    item_field: str
    default_query: tuple[str, ...]
    default_window: tuple[int | None, int | None] = (None, None)
    profile_fields: tuple[str, ...] = ()


def int_codes(values: np.ndarray, missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of integer values.

    Args:
        values: raw integer values, one per row.
        missing: optional mask of rows whose value is missing.

    Returns:
        (int64 codes 1..n in ascending value order with 0 where missing, the n sorted distinct values).
    """
    if missing is not None and missing.any():
        if missing.all():
            return np.zeros(values.size, np.int64), values[:0]
        # Missing rows borrow a present value (no new distinct value), then get code 0.
        values = np.where(missing, values[int(np.argmin(missing))], values)
    if values.size == 0:
        return np.zeros(0, np.int64), values[:0]
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= max(4 * values.size, 1 << 22):
        # Ids in a compact range (the usual case): a direct-address rank table, O(n), no hashing.
        offset = values.astype(np.int64) - lo
        present = np.zeros(hi - lo + 1, np.bool_)
        present[offset] = True
        rank = np.cumsum(present, dtype=np.int64)  # rank[v - lo] = 1-based position among distinct values
        codes = rank[offset]
        del offset
        uniques = np.flatnonzero(present).astype(values.dtype) + lo
    else:
        codes, uniques = pd.factorize(values, sort=True)
        codes = codes.astype(np.int64, copy=False)
        codes += 1
    if missing is not None and missing.any():
        codes[missing] = 0
    return codes, np.asarray(uniques)


def str_codes(chunks: list[pa.Array]) -> tuple[np.ndarray, pa.Array]:
    """Dense codes of text values given as per-block dictionary (or plain string) chunks.

    Returns:
        (int64 codes 1..n in ascending string order with 0 where null, the n sorted distinct strings).
    """
    chunks = [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c) for c in chunks]
    col = pa.chunked_array(chunks, type=pa.dictionary(pa.int32(), pa.string()))
    col = pa.table({"v": col}).unify_dictionaries().column("v")
    if col.num_chunks == 0 or len(col) == 0:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    dictionary = col.chunk(0).dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    lookup = np.zeros(len(dictionary) + 1, np.int64)  # lookup[-1] = 0 serves null indices (-1)
    lookup[order] = np.arange(1, len(dictionary) + 1)
    indices = np.concatenate([c.indices.fill_null(-1).to_numpy() for c in col.chunks])
    return lookup[indices], dictionary.take(pa.array(order))


def small_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Dense codes (1..n ascending, 0 = NA) of a small table's values (side files, per-user lookups)."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    return codes.astype(np.int64) + 1, len(uniques) + 1


def join_side(
    key_uniques: np.ndarray, key_codes: np.ndarray, side_keys: np.ndarray, side_values: np.ndarray, what: str
) -> Encoded:
    """Attach a side-file attribute (user profile, movie genre...) to every row through its key.

    Args:
        key_uniques: the sorted distinct keys of the log (code k <-> key_uniques[k - 1]).
        key_codes: per row, the key's code (1..n).
        side_keys: the side file's keys (the first occurrence of a repeated key wins).
        side_values: the attribute per side row (object array, None = missing).
        what: a name for the log message.

    Returns:
        (codes per row, cardinality), dense over the values that occur in the log.
    """
    side = pd.DataFrame({"k": side_keys, "v": side_values}).drop_duplicates("k")
    pos = pd.Index(side["k"]).get_indexer(key_uniques)
    hit = pos >= 0
    if not hit.all():
        logger.warning(
            "%s: %d of %d keys have no entry in the side file (code 0)", what, int((~hit).sum()), pos.size
        )
    per_key = np.full(pos.size, None, dtype=object)
    per_key[hit] = side["v"].to_numpy(dtype=object)[pos[hit]]
    per_key_codes, card = small_codes(pd.Series(per_key, dtype=object))
    return np.concatenate(([0], per_key_codes))[key_codes], card


def sort_permutation(user: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """Stable order by (user, ts), or None when the rows are already in that order."""
    if user.size == 0:
        return None
    t0 = int(ts.min())
    span = int(ts.max()) - t0 + 1
    if int(user.max()) < (1 << 62) // span:
        key = user * span  # one int64 key: a single stable argsort instead of a lexsort
        key += ts
        key -= t0
        if bool(np.all(key[1:] >= key[:-1])):
            return None
        return np.argsort(key, kind="stable")
    return np.lexsort((ts, user))


def build_frame(
    spec: DatasetSpec,
    fields: tuple[str, ...],
    query_fields: tuple[str, ...],
    ts: np.ndarray,
    columns: dict[str, Encoded],
    extra: dict[str, Any],
) -> tuple[pd.DataFrame, Schema]:
    """Sort by (user, ts) and assemble the canonical table and its schema.

    Args:
        spec: the dataset spec.
        fields: produced fields, column order.
        query_fields: BM25 query fields.
        ts: int64 unix seconds per row (file order).
        columns: per field, (codes per row in file order, cardinality).
        extra: facts about the ingestion kept in ``Schema.extra``.

    Returns:
        (interactions DataFrame, Schema).
    """
    if ts.size == 0:
        lo, hi = (extra.get("window") or [None, None])[:2]
        shown = [None if t is None else pd.Timestamp(t, unit="s", tz="UTC").isoformat() for t in (lo, hi)]
        raise DataError(
            f"{spec.name}: no interaction inside the time window [{shown[0]}, {shown[1]}) "
            f"({extra.get('raw_rows')} rows read); check ingest.ts_min / ingest.ts_max"
        )
    ts = ts.astype(np.int64, copy=False)
    perm = sort_permutation(columns[spec.user_field][0], ts)
    if perm is not None:
        ts = ts[perm]
        for name in fields:  # one column at a time, so only one extra column is alive
            codes, card = columns[name]
            columns[name] = (codes[perm], card)
        del perm
    n = ts.size
    data: dict[str, np.ndarray] = {
        ROW_ID: np.arange(n, dtype=np.int64),
        USER_ID: columns[spec.user_field][0],
        TS: ts,
        LABEL: np.ones(n, np.int8),
    }
    for name in fields:
        data[name] = columns[name][0].astype(np.int64, copy=False)
    frame = pd.DataFrame(data, copy=False)
    schema = Schema(
        dataset=spec.name,
        fields=fields,
        cardinalities=tuple(int(columns[f][1]) for f in fields),
        user_fields=tuple(f for f in fields if f in spec.user_fields),
        item_fields=tuple(f for f in fields if f in spec.item_fields),
        context_fields=tuple(f for f in fields if f not in spec.user_fields and f not in spec.item_fields),
        user_field=spec.user_field,
        item_field=spec.item_field,
        query_fields=query_fields,
        time_unit="s",
        extra=extra,
    )
    logger.info(
        "%s: %d interactions, %d users, fields %s",
        spec.name,
        n,
        schema.cardinalities[fields.index(spec.user_field)] - 1,
        dict(zip(fields, schema.cardinalities, strict=True)),
    )
    return frame, schema
