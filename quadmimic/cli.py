"""The ``quadmimic`` console command: one typer app that mounts every stage's commands.

Errors of the project (:class:`~motion_retarget.errors.QuadmimicError`) end the command with
one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

import sim_training.cli
from adaptation.cli import adapt_command
from motion_retarget.cli import motion_app, retarget_command
from motion_retarget.errors import QuadmimicError
from quadmimic.bench import bench_app
from quadmimic.demo import demo_command
from robot_deploy.cli import deploy_command, emulate_command
from sim_training.cli import (
    bundle_command,
    eval_command,
    export_command,
    skills_command,
    train_command,
)


def _robot_evaluator(*args: object, **kwargs: object) -> object:
    """``eval --backend``: the adaptation stage's evaluation on a simulated robot."""
    from adaptation.transfer import evaluate_on_backend

    return evaluate_on_backend(*args, **kwargs)  # type: ignore[arg-type]


sim_training.cli.ROBOT_EVALUATOR = _robot_evaluator

app = typer.Typer(name="quadmimic", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Teach a quadruped robot to move like an animal.")
app.command("retarget")(retarget_command)
app.add_typer(motion_app, name="motion")
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("export")(export_command)
app.command("bundle")(bundle_command)
app.command("skills")(skills_command)
app.command("deploy")(deploy_command)
app.command("emulate")(emulate_command)
app.command("adapt")(adapt_command)
app.command("demo")(demo_command)
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except QuadmimicError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False,
                                   soft_wrap=True)  # one line, whatever the terminal width
        sys.exit(2)
