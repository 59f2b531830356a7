"""Project commands: Kedro's own, with ``kedro run`` ending a bad-input error in its one message.

A :class:`~liftrec.recsys.errors.LiftrecError` (a ConfigError or DataError: a bad parameter, a missing
raw file, a malformed line) already names the parameter, file, line or field at fault; the boxed
traceback Kedro prints around it buries that line. ``kedro run`` prints the message alone and exits 1;
``LIFTREC_TRACEBACK=1`` brings the traceback back. Every other error keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from liftrec.recsys.errors import LiftrecError

TRACEBACK_ENV = "LIFTREC_TRACEBACK"


@click.group(name="liftrec")
def cli() -> None:
    """liftrec's project commands."""


def _run(**kwargs: Any) -> dict[str, Any]:
    try:
        return kedro_run.callback(**kwargs)
    except LiftrecError as e:
        if os.environ.get(TRACEBACK_ENV, "").lower() in ("1", "true", "yes"):
            raise
        click.echo(f"kedro run stopped on bad input ({TRACEBACK_ENV}=1 shows the traceback):", err=True)
        click.secho(f"Error: {e}", fg="red", err=True)
        sys.exit(1)


cli.add_command(
    click.Command(
        "run",
        callback=_run,
        params=kedro_run.params,
        help=kedro_run.help,
        short_help=kedro_run.short_help,
        context_settings=kedro_run.context_settings,
    )
)
