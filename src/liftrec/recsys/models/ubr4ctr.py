"""UBR4CTR: attention over the user's behaviours retrieved by BM25 with the target as query.

Paper: Qin, Zhang, Wu, Jin, Fang, Yu, "User Behavior Retrieval for Click-Through Rate Prediction",
SIGIR 2020.
Reference implementation: github qinjr/UBR4CTR (``code/ubr.py`` retrieval module, ``code/rec.py``
prediction network); read, not copied.

UBR4CTR indexes every user's behaviours in a search engine and, per target, retrieves the user's
behaviours matching a query formed from the target's features (BM25 in Elasticsearch, filtered to
the user); an attention network then pools the retrieved behaviours against the target. Here:

* Retrieval (data side): :func:`liftrec.recsys.data.history_select.select_histories` with
  ``mode="bm25"`` (``history_selection`` below): among the last ``max_candidates`` (200) rows of the
  user's long history, the top L by the project's BM25 (one token per query field, the retrieval
  period's IDF), ties to the more recent row, back in chronological order.
* Prediction: DIN's target-attention unit (:class:`~liftrec.recsys.models.din.TargetAttention`),
  softmax over the retrieved rows, then MLP([t, v]) (ReLU 200-80, as the reference's ``RecAtt``).
  The network is :class:`~liftrec.recsys.models.din.DINModel`; UBR4CTR differs by what it reads.

Deviations / choices:

* The query fields are fixed (a parameter of the selection), not chosen per target by UBR4CTR's
  REINFORCE-trained feature-selection module (``UBR_SA``); that module needs a reward loop
  through the search engine and is left out. The fixed query is the "all features" variant.
* The reference's bilinear attention (Dense(query) . key, softmax) is replaced by DIN's activation
  unit, shared by every history baseline; no batch-norm before the MLP.
* History rows carry a label embedding (our histories hold clicks and non-clicks).
* Pointwise BCE on our candidate rows (the reference's 2-way softmax is the same loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from liftrec.recsys.config import check
from liftrec.recsys.models.deepfm import Activation
from liftrec.recsys.models.din import DINConfig, DINModel
from liftrec.recsys.retrieval.bm25 import IdfVariant


@dataclass(frozen=True)
class UBR4CTRConfig(DINConfig):
    """Hyper-parameters of UBR4CTR (``ubr4ctr``); those of DIN with UBR4CTR's defaults.

    Attributes:
        field_dim: embedding size of each field (and of the label).
        mlp: hidden widths of the prediction MLP.
        dropout: dropout after each prediction-MLP hidden layer.
        activation: activation of the prediction MLP (ReLU, as the reference).
        attention_mlp: hidden widths of the attention unit.
        attention_norm: "softmax" (the reference) or "none".
        query_fields: the fields forming the BM25 query (schema field names; empty = the schema's
            query fields); read by the history selection, not by the network.
        max_candidates: BM25 scores at most the last this many rows of the long history.
        idf: IDF variant of the scores (computed over the retrieval-period rows, as the retriever's).
    """

    activation: Activation = "relu"
    attention_norm: Literal["none", "softmax"] = "softmax"
    query_fields: tuple[str, ...] = ()
    max_candidates: int = 200
    idf: IdfVariant = "paper"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.max_candidates >= 1, "max_candidates", f"must be >= 1, got {self.max_candidates}")
        check(self.idf in ("paper", "rank_bm25", "lucene"), "idf", f"unknown variant {self.idf!r}")


class UBR4CTRModel(DINModel):
    """UBR4CTR's prediction network over the BM25-retrieved history.

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "bm25"


def _build(cfg: UBR4CTRConfig, *, cardinalities: Sequence[int], **_: Any) -> nn.Module:
    return UBR4CTRModel(cfg, cardinalities)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("ubr4ctr", UBR4CTRModel, UBR4CTRConfig, _build)
