"""The ``zoo`` command line: thin commands over the library.

Known errors (:class:`zoo.errors.ZooError`) print one short message and exit 1 (2 for a
:class:`zoo.errors.UsageError`, a bad argument);
usage errors exit 2; Ctrl-C exits 130; ``ZOO_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import errno
import io
import sys
from collections.abc import Sequence

import click

from zoo import __version__, settings
from zoo.cli._browse import list_command, show_command
from zoo.cli._check import readme_command, schema_command, validate_command
from zoo.errors import UsageError, ZooError
from zoo.text import visible


class _LazyGroup(click.Group):
    """Commands that import torch live in modules imported only when run."""

    lazy = {
        "load": "zoo.cli._load:load_command",
        "embed": "zoo.cli._embed:embed_command",
        "new": "zoo.cli._new:new_command",
        "pull": "zoo.cli._fetch:pull_command",
        "doctor": "zoo.cli._fetch:doctor_command",
        "site": "zoo.cli._site:site_command",
        "verify": "zoo.cli._verify:verify_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name].partition(":")
            import importlib

            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
def cli() -> None:
    """zoo: a catalogue of vision foundation-model backbones, one YAML manifest each."""


for _command in (list_command, show_command, validate_command, schema_command, readme_command):
    cli.add_command(_command)


#: What the file system answers when it refuses an operation on a path zoo was given or made.
_REFUSED = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
    errno.ELOOP,
}


def _refusal(exc: OSError) -> str:
    """The reason, and where zoo's own folders are set when the path is one of them."""
    reason = (exc.strerror or str(exc)).lower()
    home = settings.zoo_home()
    if str(exc.filename).startswith(str(home)):
        return f"{reason} (zoo keeps its caches in ZOO_HOME={home}: point it at a writable folder)"
    return reason


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by the console script)."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None, prog_name="zoo", standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        shown = io.StringIO()
        exc.show(file=shown)  # quotes what was typed: made visible like everything else
        click.echo(visible(shown.getvalue()), err=True, nl=False)
        return exc.exit_code
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C into Abort; the shell convention for SIGINT is 128 + 2.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            return 130
        click.echo("aborted", err=True)
        return 1
    except ZooError as exc:
        if settings.debug():
            raise
        # The message may quote a name the user typed or text from a manifest.
        click.echo(visible(f"error: {exc}"), err=True)
        # A bad argument (a device that is not here, out_indices out of range) is a usage
        # error, as click's own are; everything else zoo knows about is exit 1.
        return 2 if isinstance(exc, UsageError) else 1
    except OSError as exc:
        # The machine refused a file operation on a path (a full disk, a read-only folder, a
        # file where a folder must be): what and where, in one line, like zoo's own errors.
        if settings.debug() or exc.errno not in _REFUSED or not exc.filename:
            raise
        click.echo(visible(f"error: {exc.filename}: {_refusal(exc)}"), err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
