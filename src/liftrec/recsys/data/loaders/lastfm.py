"""Last.fm 1K users (Ò. Celma): ``userid-timestamp-artid-artname-traid-traname.tsv``.

Tab-separated, no header, no quoting (names hold quote characters): ``userid, timestamp
(2009-05-04T23:08:57Z), artist MBID, artist name, track MBID, track name``; rows are grouped by user
with time descending. MBIDs are often empty: the artist key then falls back to ``name:<artist
name>``, the track key to ``<artist key> U+001F <track name>`` (a bare track name is ambiguous
across artists). ``userid-profile.tsv`` (header ``#id gender age country registered``) adds gender,
age and country when present; when it is absent and the field list is the default, those fields
are dropped with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liftrec.recsys.data.loaders._blocks import collect
from liftrec.recsys.data.loaders._csv import CsvFormat, Locator, iter_batches, require_file
from liftrec.recsys.data.loaders._encode import DatasetSpec, Encoded, join_side, str_codes
from liftrec.recsys.data.loaders.config import LoaderConfig

logger = logging.getLogger(__name__)

FILE = "userid-timestamp-artid-artname-traid-traname.tsv"
PROFILE = "userid-profile.tsv"
GENDERS = ("m", "f")

SPEC = DatasetSpec(
    name="lastfm-1k",
    available=("user", "artist", "track", "gender", "age", "country"),
    default_fields=("user", "artist", "track", "gender", "age", "country"),
    user_fields=("user", "gender", "age", "country"),
    item_fields=("artist", "track"),
    user_field="user",
    item_field="track",
    default_query=("user", "artist", "track", "country"),
    profile_fields=("gender", "age", "country"),
)

_TEXT = pa.string()
FORMAT = CsvFormat(
    columns=("userid", "timestamp", "artid", "artname", "traid", "traname"),
    types={
        "userid": _TEXT,
        "timestamp": pa.timestamp("s", tz="UTC"),
        "artid": _TEXT,
        "artname": _TEXT,
        "traid": _TEXT,
        "traname": _TEXT,
    },
    delimiter="\t",
    layout="userid<TAB>timestamp<TAB>artid<TAB>artname<TAB>traid<TAB>traname "
    "(e.g. user_000001<TAB>2009-05-04T23:08:57Z<TAB><mbid><TAB>Deep Dish<TAB><mbid><TAB>Track)",
)
PROFILE_FORMAT = CsvFormat(
    columns=("#id", "gender", "age", "country", "registered"),
    types={"#id": _TEXT, "gender": _TEXT, "age": _TEXT, "country": _TEXT},
    delimiter="\t",
    header=True,
    layout="#id<TAB>gender<TAB>age<TAB>country<TAB>registered "
    "(e.g. user_000001<TAB>m<TAB><TAB>Japan<TAB>Aug 13, 2006)",
)
_NULL = pa.scalar(None, pa.string())


def _artist_key(batch: pa.RecordBatch) -> pa.Array:
    """The artist MBID, else ``name:<artist name>``, else null."""
    artid, artname = batch.column("artid"), batch.column("artname")
    by_name = pc.if_else(pc.equal(artname, ""), _NULL, pc.binary_join_element_wise("name:", artname, ""))
    return pc.if_else(pc.equal(artid, ""), by_name, artid)


def _track_key(batch: pa.RecordBatch, artist: pa.Array) -> pa.Array:
    """The track MBID, else ``<artist key> U+001F <track name>``, else null."""
    traid, traname = batch.column("traid"), batch.column("traname")
    by_name = pc.binary_join_element_wise(artist.fill_null(""), traname, "\x1f")
    return pc.if_else(pc.equal(traid, ""), pc.if_else(pc.equal(traname, ""), _NULL, by_name), traid)


def load(
    raw_dir: Path,
    fields: tuple[str, ...],
    explicit: bool,
    window: tuple[int | None, int | None],
    cfg: LoaderConfig,
) -> tuple[np.ndarray, dict[str, Encoded], tuple[str, ...], dict]:
    """Read the listening log (and profile); see :func:`liftrec.recsys.data.loaders.load_raw`."""
    path = require_file(raw_dir, FILE)
    extra: dict = {"files": [FILE]}
    wanted = [f for f in fields if f in SPEC.profile_fields]
    if wanted and not (raw_dir / PROFILE).is_file():
        if explicit:
            require_file(raw_dir, PROFILE)
        logger.warning(
            "lastfm-1k: %s not found in %s; dropping the profile fields %s", PROFILE, raw_dir, wanted
        )
        fields = tuple(f for f in fields if f not in wanted)
        extra["dropped_fields"], wanted = wanted, []
    names = ["userid", "timestamp"]
    if "artist" in fields or "track" in fields:
        names += ["artid", "artname"] + (["traid", "traname"] if "track" in fields else [])

    def derive(batch: pa.RecordBatch, first: int, loc: Locator) -> dict:
        user = batch.column("userid")
        empty = pc.equal(user, "").to_numpy(zero_copy_only=False)
        if empty.any():
            raise loc.error(first + int(np.argmax(empty)), "userid", "missing value; expected a user id")
        out: dict = {"ts": batch.column("timestamp").cast(pa.int64()).to_numpy(), "user": user}
        if len(names) > 2:
            artist = _artist_key(batch)
            if "track" in fields:
                out["track"] = _track_key(batch, artist)
            if "artist" in fields:
                out["artist"] = artist
        return out

    got = collect(path, FORMAT.select(names), cfg.block_size, window, derive, required=["timestamp"])
    extra.update(raw_rows=got.rows_read, rows_outside_window=got.rows_read - got.rows)
    columns: dict[str, Encoded] = {}
    user_uniques = None
    for f in ("user", "artist", "track"):
        if f in fields:
            codes, uniques = str_codes(got.text.pop(f))
            columns[f] = (codes, len(uniques) + 1)
            if f == "user":
                user_uniques = uniques.to_numpy(zero_copy_only=False)
    if wanted:
        extra["files"].append(PROFILE)
        profile = _profile(raw_dir / PROFILE, cfg.block_size)
        for f in wanted:
            columns[f] = join_side(
                user_uniques, columns["user"][0], profile["#id"], profile[f], f"lastfm-1k {f}"
            )
    return got.ts, columns, fields, extra


def _profile(path: Path, block_size: int) -> dict[str, np.ndarray]:
    """The profile columns as object arrays (None = empty), validating gender and age."""
    loc = Locator(path, PROFILE_FORMAT)
    parts: dict[str, list] = {c: [] for c in PROFILE_FORMAT.types}
    for batch, first in iter_batches(path, PROFILE_FORMAT, block_size):
        gender = batch.column("gender")
        bad = pc.invert(pc.is_in(gender, pa.array(("", *GENDERS)))).to_numpy(zero_copy_only=False)
        if bad.any():
            i = int(np.argmax(bad))
            raise loc.error(
                first + i, "gender", f"unknown category value {gender[i].as_py()!r}; allowed: {list(GENDERS)}"
            )
        age = batch.column("age")
        bad = pc.invert(pc.match_substring_regex(age, r"^\s*\d*\s*$")).to_numpy(zero_copy_only=False)
        if bad.any():
            i = int(np.argmax(bad))
            raise loc.error(first + i, "age", f"expected an integer age or nothing, got {age[i].as_py()!r}")
        for c in parts:
            parts[c].extend(batch.column(c).to_pylist())
    out = {}
    for c, values in parts.items():
        cleaned = [v.strip() or None for v in values]
        out[c] = np.array(
            [int(v) if v is not None else None for v in cleaned] if c == "age" else cleaned, dtype=object
        )
    return out
