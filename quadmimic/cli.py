"""The ``quadmimic`` console command: one typer app that mounts every stage's commands.

Errors of the project (:class:`~quadmimic.core.errors.QuadmimicError`), usage errors (an
unknown option, a value out of range: :mod:`quadmimic.core.options`) and an OS error on a named
file end the command with one clear line on stderr and exit code 2, never a traceback. Safety
trips go to the log (``--verbose`` prints it); the terminal gets one summary line per run.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from adaptation.cli import adapt_command
from motion_retarget.cli import motion_app, retarget_command
from quadmimic.bench import bench_app
from quadmimic.core.errors import QuadmimicError
from quadmimic.demo import demo_command
from quadmimic.docs import docs_command
from quadmimic.evaluation import eval_command
from robot_deploy.cli import deploy_command, emulate_command
from sim_training.cli import (
    bundle_command,
    estimator_command,
    export_command,
    skills_command,
    train_command,
)

app = typer.Typer(name="quadmimic", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Teach a quadruped robot to move like an animal.")
app.command("retarget")(retarget_command)
app.add_typer(motion_app, name="motion")
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("estimator")(estimator_command)
app.command("export")(export_command)
app.command("bundle")(bundle_command)
app.command("skills")(skills_command)
app.command("deploy")(deploy_command)
app.command("emulate")(emulate_command)
app.command("adapt")(adapt_command)
app.command("demo")(demo_command)
app.command("docs")(docs_command)
app.add_typer(bench_app, name="bench")


def _version() -> str:
    """The installed package's version (its metadata), or "unknown" when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quadmimic")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"quadmimic {_version()}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Print the log on stderr (each safety trip, ...).")] = False,
) -> None:
    """Teach a quadruped robot to move like an animal."""
    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")


def _error_line(message: str) -> None:
    """``error: message`` on stderr, one line whatever the terminal width."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: exits 0, 2 with one line on a bad input, or 130.

    Args:
        argv: The arguments (default: the process's).
    """
    from robot_deploy.safety import TripTally

    tally = TripTally.attach()
    try:
        code = app(args=argv, standalone_mode=False, prog_name="quadmimic")
    except QuadmimicError as exc:
        code = 2
        _error_line(str(exc))
    except typer.TyperException as exc:  # typer's usage errors: unknown option, bad value
        code = getattr(exc, "exit_code", 2)
        if type(exc).__name__ != "NoArgsIsHelpError":  # the help is printed already
            _error_line(exc.format_message())
    except typer.Abort:
        code = 1
        _error_line("aborted")
    except OSError as exc:
        if exc.filename is None:
            raise
        code = 2
        _error_line(f"{exc.filename}: {exc.strerror or exc}")
    finally:
        tally.detach()
    summary = tally.summary()
    if summary:
        Console(stderr=True).print(summary, highlight=False, soft_wrap=True)
    sys.exit(code if isinstance(code, int) else 0)
