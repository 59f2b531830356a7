"""Project settings: hooks and the config loader."""

from kedro.config import OmegaConfigLoader

from liftrec.hooks import MlflowTrackingHook, ParameterValidationHook

# Validation first, so a bad parameter fails before MLflow opens a run.
HOOKS = (ParameterValidationHook(), MlflowTrackingHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
