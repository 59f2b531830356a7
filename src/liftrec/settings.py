"""Project settings: hooks and the config loader."""

from kedro.config import OmegaConfigLoader

from liftrec.hooks import MlflowTrackingHook, ParameterValidationHook, RunSummaryHook
from liftrec.session import CachingSession

# pluggy calls the last-registered hook first: validation runs before MLflow opens a run, so a
# bad parameter costs nothing and leaves no half-open run behind.
# The summary, registered first, prints last, after the MLflow run is closed.
_TRACKING = MlflowTrackingHook()
HOOKS = (RunSummaryHook(_TRACKING), _TRACKING, ParameterValidationHook())

# Every run skips the nodes whose parameters, inputs and code are unchanged (docs/caching.md);
# `--params=cache=false` reruns everything.
SESSION_CLASS = CachingSession

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (local, test) overrides single keys of a base mapping, not the whole mapping.
    "merge_strategy": {"parameters": "soft", "catalog": "soft"},
}
