"""SIM (hard search): target attention over the user's same-category behaviours from a long history.

Paper: Pi, Zhou, Bian, Wu, Ji, Zhou, Liu, Wang, Fan, Gai, "Search-based User Interest Modeling with
Lifelong Sequential Behavior Data for Click-Through Rate Prediction", CIKM 2020.
Reference implementation: none official (Alibaba); third-party TensorFlow re-implementation
github tttwwy/sim. Read, not copied.

SIM has two stages. The General Search Unit (GSU) selects, from the user's lifelong behaviour
sequence, the behaviours relevant to the target; its "hard search" keeps those of the target's
category. The Exact Search Unit (ESU) attends over them with the target as query. Here:

* GSU (data side): :func:`liftrec.recsys.data.history_select.select_histories` with
  ``mode="category"`` (``history_selection`` below): the last L rows of the user's long history
  (at most ``max_candidates`` = 1000 searched) whose category equals the target's.
* ESU: DIN's target-attention unit (:class:`~liftrec.recsys.models.din.TargetAttention`), softmax
  over the selected rows, on the same row embeddings (fields + label) as DIN; logit = MLP([t, v]).
  The model is :class:`~liftrec.recsys.models.din.DINModel`; SIM differs by what it reads.

Deviations / choices:

* The ESU's multi-head scaled dot-product attention is replaced by DIN's activation unit (one
  attention for every history baseline, so the comparison is about which rows are selected).
* No time-interval embeddings (the batch's history carries no timestamps) and no separate
  short-term (recent-L) DIN branch: the "hist" group carries one sequence, the category-selected one.
* Attention weights softmax-normalised (``attention_norm="softmax"``, as attention in the ESU is);
  Dice MLP 200-80 as in DIN (SIM comes from the DIN / DIEN line; its paper gives no MLP widths).
* Pointwise BCE on our candidate rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from liftrec.recsys.config import check
from liftrec.recsys.models.deepfm import Activation
from liftrec.recsys.models.din import DINConfig, DINModel


@dataclass(frozen=True)
class SIMConfig(DINConfig):
    """Hyper-parameters of SIM (``sim``); those of DIN with SIM's defaults.

    Attributes:
        field_dim: embedding size of each field (and of the label).
        mlp: hidden widths of the prediction MLP.
        dropout: dropout after each prediction-MLP hidden layer.
        activation: activation of the prediction MLP.
        attention_mlp: hidden widths of the attention unit.
        attention_norm: "softmax" (ESU) or "none" (DIN's paper).
        category_field: the field of the hard search (a schema field name); read by the history
            selection, not by the network.
        max_candidates: the hard search looks at most at the last this many rows of the long history.
    """

    activation: Activation = "dice"
    attention_norm: Literal["none", "softmax"] = "softmax"
    category_field: str = "category"
    max_candidates: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.category_field), "category_field", "must name a field")
        check(self.max_candidates >= 1, "max_candidates", f"must be >= 1, got {self.max_candidates}")


class SIMModel(DINModel):
    """SIM's ESU over the category-selected ("hard search") history.

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "category"


def _build(cfg: SIMConfig, *, cardinalities: Sequence[int], **_: Any) -> nn.Module:
    return SIMModel(cfg, cardinalities)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("sim", SIMModel, SIMConfig, _build)
