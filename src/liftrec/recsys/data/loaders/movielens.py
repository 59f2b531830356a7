"""MovieLens 1M and 100K (GroupLens): ratings joined with the user and movie side files.

- ml-1m: ``ratings.dat`` ``UserID::MovieID::Rating::Timestamp`` (1 M rows, streamed: pyarrow has no
  multi-character separator, so it splits on ':' and the empty columns between fields are checked);
  ``users.dat`` ``UserID::Gender::Age::Occupation::Zip-code``; ``movies.dat``
  ``MovieID::Title::Genres`` (Latin-1, titles may contain ':').
- ml-100k: ``u.data`` (tab: user item rating unix-ts), ``u.user`` (``id|age|gender|occupation|zip``),
  ``u.item`` (``|``, Latin-1, 19 genre flags at the end).

Every rating is a positive interaction (PROTOCOL.md); ``genre`` is the movie's first genre (ml-100k:
the first flag set, the "unknown" genre counting as missing). The side files are small (thousands
of lines) and parsed line by line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liftrec.recsys.data.loaders._blocks import check_allowed, collect
from liftrec.recsys.data.loaders._csv import CsvFormat, Locator, require_file
from liftrec.recsys.data.loaders._encode import DatasetSpec, Encoded, int_codes, join_side
from liftrec.recsys.data.loaders.config import LoaderConfig
from liftrec.recsys.errors import DataError

USER_SIDE = ("gender", "age", "occupation", "zip")
GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def _spec(name: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        available=("user", "item", "gender", "age", "occupation", "zip", "genre", "rating"),
        default_fields=("user", "item", "gender", "age", "occupation", "zip", "genre"),
        user_fields=("user", "gender", "age", "occupation", "zip"),
        item_fields=("item", "genre"),
        user_field="user",
        item_field="item",
        default_query=("user", "item", "age", "occupation", "zip", "genre"),  # RIM: all but gender
    )


def _read_small(path: Path, sep: str, n_parts: int, layout: str, at_least: bool = False) -> list[list[str]]:
    """Split a small Latin-1 side file into fields, naming the line of any malformed one."""
    rows = []
    text = path.read_bytes().decode("latin-1")
    if not text.strip():
        raise DataError(f"file is empty; expected lines like '{layout}'", path=str(path))
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(sep)
        if len(parts) < n_parts or (not at_least and len(parts) > n_parts):
            raise DataError(
                f"expected {n_parts} fields separated by {sep!r} ('{layout}'), got {len(parts)}",
                path=str(path),
                line=number,
            )
        rows.append([number, *parts])
    return rows


def _int(value: str, path: Path, line: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(
            f"expected an integer, got {value!r}", path=str(path), line=line, column=column
        ) from None


def _gender(value: str, path: Path, line: int) -> str:
    if value not in ("M", "F"):
        raise DataError(
            f"unknown category value {value!r}; allowed: ['M', 'F']",
            path=str(path),
            line=line,
            column="gender",
        )
    return value


@dataclass(frozen=True)
class MovieLens:
    """One MovieLens release: its spec, ratings layout and side-file parsers."""

    SPEC: DatasetSpec
    ratings: str
    users: str
    movies: str
    fmt: CsvFormat
    parse_users: Callable[[Path], dict[str, list]]
    parse_movies: Callable[[Path], dict[str, list]]

    def load(
        self,
        raw_dir: Path,
        fields: tuple[str, ...],
        explicit: bool,
        window: tuple[int | None, int | None],
        cfg: LoaderConfig,
    ) -> tuple[np.ndarray, dict[str, Encoded], tuple[str, ...], dict]:
        """Read ratings and the side files the fields need; see ``load_raw``."""
        files = [self.ratings]
        path = require_file(raw_dir, self.ratings)
        users_path = movies_path = None
        if any(f in USER_SIDE for f in fields):
            users_path = require_file(raw_dir, self.users)
            files.append(self.users)
        if "genre" in fields:
            movies_path = require_file(raw_dir, self.movies)
            files.append(self.movies)
        user_col, item_col, rating_col, ts_col = (c for c in self.fmt.columns if not c.startswith("_"))
        seps = [c for c in self.fmt.columns if c.startswith("_")]

        def derive(batch: pa.RecordBatch, first: int, loc: Locator) -> dict:
            for c in seps:  # 'a:b' inside a field would shift columns: the gaps must stay empty
                bad = pc.not_equal(batch.column(c), "").to_numpy(zero_copy_only=False)
                if bad.any():
                    raise loc.error(
                        first + int(np.argmax(bad)),
                        None,
                        f"expected fields separated by '::' ({self.fmt.layout})",
                    )
            rating = batch.column(rating_col).to_numpy()
            check_allowed(rating, (1, 2, 3, 4, 5), first, rating_col, loc)
            return {
                "ts": batch.column(ts_col).to_numpy(),
                "user": batch.column(user_col).to_numpy(),
                "item": batch.column(item_col).to_numpy(),
                "rating": rating.astype(np.int8),
            }

        names = [user_col, item_col, rating_col, ts_col]
        got = collect(path, self.fmt.select(names + seps), cfg.block_size, window, derive, required=names)
        columns: dict[str, Encoded] = {}
        uniques: dict[str, np.ndarray] = {}
        for f in ("user", "item", "rating"):
            codes, uniques[f] = int_codes(got.numeric.pop(f))
            if f in fields:
                columns[f] = (codes, uniques[f].size + 1)
        if users_path is not None:
            side = self.parse_users(users_path)
            for f in USER_SIDE:
                if f in fields:
                    columns[f] = join_side(
                        uniques["user"],
                        columns["user"][0],
                        np.array(side["id"]),
                        np.array(side[f], dtype=object),
                        f"{self.SPEC.name} {f}",
                    )
        if movies_path is not None:
            side = self.parse_movies(movies_path)
            columns["genre"] = join_side(
                uniques["item"],
                columns["item"][0],
                np.array(side["id"]),
                np.array(side["genre"], dtype=object),
                f"{self.SPEC.name} genre",
            )
        extra = {"files": files, "raw_rows": got.rows_read, "rows_outside_window": got.rows_read - got.rows}
        return got.ts, columns, fields, extra


def _users_1m(path: Path) -> dict[str, list]:
    out: dict[str, list] = {"id": [], "gender": [], "age": [], "occupation": [], "zip": []}
    for line, uid, gender, age, occupation, zip_code in _read_small(
        path, "::", 5, "UserID::Gender::Age::Occupation::Zip-code"
    ):
        out["id"].append(_int(uid, path, line, "UserID"))
        out["gender"].append(_gender(gender, path, line))
        out["age"].append(_int(age, path, line, "Age"))
        out["occupation"].append(_int(occupation, path, line, "Occupation"))
        out["zip"].append(zip_code.strip() or None)
    return out


def _movies_1m(path: Path) -> dict[str, list]:
    out: dict[str, list] = {"id": [], "genre": []}
    for line, movie, *rest in _read_small(path, "::", 3, "MovieID::Title::Genres", at_least=True):
        out["id"].append(_int(movie, path, line, "MovieID"))
        out["genre"].append(rest[-1].split("|")[0].strip() or None)  # the title may hold '::' too
    return out


def _users_100k(path: Path) -> dict[str, list]:
    out: dict[str, list] = {"id": [], "gender": [], "age": [], "occupation": [], "zip": []}
    for line, uid, age, gender, occupation, zip_code in _read_small(
        path, "|", 5, "id|age|gender|occupation|zip"
    ):
        out["id"].append(_int(uid, path, line, "user id"))
        out["age"].append(_int(age, path, line, "age"))
        out["gender"].append(_gender(gender, path, line))
        out["occupation"].append(occupation.strip() or None)
        out["zip"].append(zip_code.strip() or None)
    return out


def _movies_100k(path: Path) -> dict[str, list]:
    out: dict[str, list] = {"id": [], "genre": []}
    layout = "id|title|release date|video release date|IMDb URL|19 genre flags"
    for line, movie, *rest in _read_small(path, "|", 24, layout):
        flags = [_int(v, path, line, f"genre flag {GENRES_100K[i]}") for i, v in enumerate(rest[-19:])]
        first = next((i for i in range(1, 19) if flags[i]), 0)  # flag 0 is the "unknown" genre
        out["id"].append(_int(movie, path, line, "movie id"))
        out["genre"].append(GENRES_100K[first] if first else None)
    return out


_INT = pa.int64()
ML1M = MovieLens(
    SPEC=_spec("ml-1m"),
    ratings="ratings.dat",
    users="users.dat",
    movies="movies.dat",
    fmt=CsvFormat(
        columns=("UserID", "_1", "MovieID", "_2", "Rating", "_3", "Timestamp"),
        types={
            "UserID": _INT,
            "_1": pa.string(),
            "MovieID": _INT,
            "_2": pa.string(),
            "Rating": _INT,
            "_3": pa.string(),
            "Timestamp": _INT,
        },
        delimiter=":",
        double_sep=True,
        encoding="latin1",
        layout="UserID::MovieID::Rating::Timestamp (e.g. 1::1193::5::978300760)",
        expect={"Timestamp": "integer unix seconds"},
    ),
    parse_users=_users_1m,
    parse_movies=_movies_1m,
)
ML100K = MovieLens(
    SPEC=_spec("ml-100k"),
    ratings="u.data",
    users="u.user",
    movies="u.item",
    fmt=CsvFormat(
        columns=("user id", "item id", "rating", "timestamp"),
        types={"user id": _INT, "item id": _INT, "rating": _INT, "timestamp": _INT},
        delimiter="\t",
        encoding="latin1",
        layout="user id<TAB>item id<TAB>rating<TAB>timestamp (e.g. 196<TAB>242<TAB>3<TAB>881250949)",
        expect={"timestamp": "integer unix seconds"},
    ),
    parse_users=_users_100k,
    parse_movies=_movies_100k,
)
