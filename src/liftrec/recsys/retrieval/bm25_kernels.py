"""Numba kernels of the BM25 engine: index build (counting sort) and exact max-score top-K search.

Positions: rows are renumbered by the tie order (``bm25.tie_order``: a seeded shuffle, or ts then
row_id descending), so a smaller position always wins a tie and every posting list, sorted by
position, lists the tie winners first. Under the ``latest`` order a ``max_ts`` cut-off is a lower
bound on positions (``pmin``); under any other order it is a per-row test on ``pos_ts`` (``tcut``),
made only for queries whose cut-off excludes some row.

Search (one query, one thread), with w_j the IDF of the query's token in field j:

1. positive tokens are processed as term-at-a-time lists in decreasing w (= shortest list first);
   B_i = w_i + sum of the weights after it bounds the score of every row not in an earlier list;
2. each posted row is scored exactly from the row table, summing matched weights in field order
   (negative weights included), so equal match sets give bit-identical sums; a row that matches a
   token processed earlier was already considered and is skipped;
3. list i is skipped when B_i is below the K-th score beyond the tie tolerance, and left early once
   B_i can at most tie the K-th score and the scan passes the K-th row's position (a tie is won by
   the smaller position only);
4. rows matching no positive token score sum(matched negative weights) <= 0; they are scanned in
   position order from the ``max_ts`` bound with the same rules (bound 0).

The early exit of 3. only needs lists in tie order, so the pruning stays exact under every tie rule.
The own-user exclusion and the time cut-off are applied to every row inside the kernel.
Without numba the same functions run as plain Python (correct, slow); ``bm25.py`` warns.
"""

from __future__ import annotations

import os

import numpy as np

try:  # numba is optional: the kernels below are valid plain Python as well
    if os.environ.get("LIFTREC_NO_NUMBA"):
        raise ImportError("disabled by LIFTREC_NO_NUMBA")
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised in a subprocess test
    numba = None
    HAVE_NUMBA = False
    prange = range

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        """Identity decorator standing in for numba.njit."""
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda f: f


if HAVE_NUMBA:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    # the intrinsic's name mangles the pointer type: "ptr" (opaque, newer LLVM) or "i8*"
    _PREFETCH = "llvm.prefetch.p0" if str(ir.IntType(8).as_pointer()) == "ptr" else "llvm.prefetch.p0i8"

    @intrinsic
    def prefetch_row(typingctx, table, p):  # pragma: no cover - numba
        """Hint the CPU to load row p of a 2-D array (posting lists hit rows at random)."""
        sig = types.void(table, p)

        def codegen(context, builder, signature, args):
            arrty = signature.args[0]
            ary = context.make_array(arrty)(context, builder, args[0])
            zero = context.get_constant(types.intp, 0)
            row = context.cast(builder, args[1], signature.args[1], types.intp)
            ptr = cgutils.get_item_pointer(context, builder, arrty, ary, [row, zero], wraparound=False)
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
            # read, high locality, data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

else:  # pragma: no cover

    def prefetch_row(table, p):
        """No-op without numba."""


PREFETCH_AHEAD = 16  # posting lists: rows fetched this many postings ahead of use
NO_TS_CUT = np.iinfo(np.int64).max  # tcut value: no per-row time test for this query


def set_threads(threads: int) -> int:
    """Set the numba thread count for this thread (0 = all cores); return the count in use."""
    if not HAVE_NUMBA:
        return 1
    n = numba.config.NUMBA_NUM_THREADS if threads <= 0 else min(threads, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    return n


# ----------------------------------------------------------------------------------------- build


@njit(cache=True)
def fill_table(keys, order, user_codes, table):  # pragma: no cover - numba
    """table[p, :F] = keys[order[p]], table[p, F] = user_codes[order[p]] (no (N, F) temporary)."""
    n, f = keys.shape
    for p in range(n):
        r = order[p]
        for j in range(f):
            table[p, j] = keys[r, j]
        table[p, f] = user_codes[r]


@njit(cache=True)
def count_tokens(table, field_off, counts):  # pragma: no cover - numba
    """counts[field_off[j] + v] += 1 for every non-missing value v of field j (v = 0 is missing)."""
    n = table.shape[0]
    f = field_off.shape[0] - 1
    for p in range(n):
        for j in range(f):
            v = table[p, j]
            if v != 0:
                counts[field_off[j] + v] += 1


@njit(cache=True)
def scatter_postings(table, field_off, ptr, postings):  # pragma: no cover - numba
    """Counting sort: each token's list receives its row positions in increasing order."""
    n = table.shape[0]
    f = field_off.shape[0] - 1
    fill = ptr[:-1].copy()
    for p in range(n):
        for j in range(f):
            v = table[p, j]
            if v != 0:
                t = field_off[j] + v
                postings[fill[t]] = p
                fill[t] += 1


# ---------------------------------------------------------------------------------------- search


@njit(cache=True)
def first_below(ts_desc, m):  # pragma: no cover - numba
    """First position whose ts is < m in a descending ts array (len when none)."""
    lo, hi = 0, ts_desc.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if ts_desc[mid] < m:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def positions_below(ts_desc, max_ts):  # pragma: no cover - numba
    """Per query, the first position with ts < max_ts[q]: the max_ts cut-off as a position bound."""
    out = np.empty(max_ts.shape[0], np.int64)
    for q in range(max_ts.shape[0]):
        out[q] = first_below(ts_desc, max_ts[q])
    return out


@njit(cache=True, inline="always")
def _lower_bound(arr, lo, hi, x):  # pragma: no cover - numba
    """First index in arr[lo:hi] (ascending) with arr[i] >= x."""
    while lo < hi:
        mid = (lo + hi) // 2
        if arr[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def _worse(s1, p1, s2, p2, tol):  # pragma: no cover - numba
    """True when (s1, p1) ranks below (s2, p2): lower score beyond tol, or a tie and a later row."""
    if s1 < s2 - tol:
        return True
    if s1 > s2 + tol:
        return False
    return p1 > p2


@njit(cache=True, inline="always")
def _push(hs, hp, size, s, p, tol):  # pragma: no cover - numba
    """Offer (s, p) to the min-heap of the K best (worst at the root); return the new size."""
    k = hs.shape[0]
    if size < k:
        i = size
        hs[i] = s
        hp[i] = p
        while i > 0:  # sift up
            par = (i - 1) // 2
            if _worse(hs[i], hp[i], hs[par], hp[par], tol):
                hs[i], hs[par] = hs[par], hs[i]
                hp[i], hp[par] = hp[par], hp[i]
                i = par
            else:
                break
        return size + 1
    if not _worse(hs[0], hp[0], s, p, tol):
        return size
    hs[0] = s
    hp[0] = p
    i = 0
    while True:  # sift down
        a = 2 * i + 1
        if a >= k:
            break
        b = a + 1
        c = a
        if b < k and _worse(hs[b], hp[b], hs[a], hp[a], tol):
            c = b
        if _worse(hs[c], hp[c], hs[i], hp[i], tol):
            hs[c], hs[i] = hs[i], hs[c]
            hp[c], hp[i] = hp[i], hp[c]
            i = c
        else:
            break
    return size


@njit(cache=True)
def _search_one(table, postings, ptr, pos_ts, qv, qw, qt, qu, pmin, tcut, tol, hs, hp):  # pragma: no cover
    """Exact top-K of one query into the heap (hs, hp); returns the number of rows found."""
    n = table.shape[0]
    f = qv.shape[0]
    k = hs.shape[0]
    # positive tokens by decreasing weight (insertion sort: F is small)
    order = np.empty(f, np.int64)
    npos = 0
    total_abs = 0.0
    for j in range(f):
        total_abs += abs(qw[j])
        if qw[j] > 0.0:
            i = npos
            while i > 0 and qw[order[i - 1]] < qw[j]:
                order[i] = order[i - 1]
                i -= 1
            order[i] = j
            npos += 1
    rank = np.full(f, f + 1, np.int64)  # processing rank of each positive field, f + 1 otherwise
    for i in range(npos):
        rank[order[i]] = i
    # float slack on the bounds: they must never fall below a score they bound
    slack = 1e-12 * (1.0 + total_abs)
    bound = np.empty(npos + 1, np.float64)
    bound[npos] = 0.0
    for i in range(npos - 1, -1, -1):
        bound[i] = bound[i + 1] + qw[order[i]]
    size = 0
    for i in range(npos + 1):
        b = bound[i] + slack if i < npos else 0.0
        if size == k and b < hs[0] - tol:
            return size  # no unseen row can enter; bounds only decrease from here
        if i < npos:
            t = qt[order[i]]
            lo, hi = ptr[t], ptr[t + 1]
            if pmin > 0:
                lo = _lower_bound(postings, lo, hi, pmin)
        else:  # rows matching no positive token, in position order
            lo = pmin
            hi = n
        for idx in range(lo, hi):
            if i < npos:
                p = postings[idx]
                if idx + PREFETCH_AHEAD < hi:
                    prefetch_row(table, postings[idx + PREFETCH_AHEAD])
            else:
                p = idx
            if size == k:
                if b < hs[0] - tol:
                    break  # the K-th score rose above this list's bound
                if b <= hs[0] + tol and p > hp[0]:
                    break  # at best a tie, and a later row: it ranks below the K-th
            if tcut != NO_TS_CUT and pos_ts[p] >= tcut:
                continue  # not before the query's max_ts (positions not in ts order)
            seen = False
            s = 0.0
            for j in range(f):
                if table[p, j] == qv[j]:
                    if rank[j] < i:
                        seen = True
                        break
                    s += qw[j]
            if seen or table[p, f] == qu:
                continue
            if size < k or _worse(hs[0], hp[0], s, p, tol):  # test first: most rows do not enter
                size = _push(hs, hp, size, s, p, tol)
    return size


@njit(cache=True)
def _sort_heap(hs, hp, size, tol):  # pragma: no cover - numba
    """Order the heap's entries best first (insertion sort, K is small)."""
    for a in range(1, size):
        s, p = hs[a], hp[a]
        b = a - 1
        while b >= 0 and _worse(hs[b], hp[b], s, p, tol):
            hs[b + 1] = hs[b]
            hp[b + 1] = hp[b]
            b -= 1
        hs[b + 1] = s
        hp[b + 1] = p


@njit(cache=True, parallel=True)
def search_batch(
    table, postings, ptr, pos_ts, qv, qw, qt, qu, pmin, tcut, tol, out_pos, out_score
):  # pragma: no cover - numba
    """Top-K of every query of a batch, in parallel over queries.

    Args:
        table: (N, F + 1) int32 row table by position; column F holds the user code.
        postings: (P,) int32 positions, token lists concatenated, each ascending.
        ptr: (T + 1,) int64 list offsets per token.
        pos_ts: (N,) int64 ts by position.
        qv: (Q, F) int32 query values (0 = missing).
        qw: (Q, F) float64 token weights (0 when missing or unknown).
        qt: (Q, F) int64 token ids (any value where qw is 0).
        qu: (Q,) int32 user code to exclude (-1 = none).
        pmin: (Q,) int64 first eligible position (the max_ts cut-off when positions are in ts order).
        tcut: (Q,) int64 rows with pos_ts >= tcut are skipped (NO_TS_CUT = no test).
        tol: tie tolerance.
        out_pos: (Q, K) int64 output positions, -1 padded.
        out_score: (Q, K) float64 output scores, -inf padded.
    """
    nq, k = out_pos.shape
    for q in prange(nq):
        hs = np.empty(k, np.float64)
        hp = np.empty(k, np.int64)
        size = _search_one(
            table, postings, ptr, pos_ts, qv[q], qw[q], qt[q], qu[q], pmin[q], tcut[q], tol, hs, hp
        )
        _sort_heap(hs, hp, size, tol)
        for a in range(k):
            if a < size:
                out_pos[q, a] = hp[a]
                out_score[q, a] = hs[a]
            else:
                out_pos[q, a] = -1
                out_score[q, a] = -np.inf
