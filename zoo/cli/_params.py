"""Option types shared by commands, parsed by the same functions the Python API uses."""

from __future__ import annotations

from typing import Any

import click

from zoo.errors import UsageError
from zoo.loading.dtypes import choices, dtype_name


class DtypeParam(click.ParamType):
    """``--dtype``: any spelling :func:`zoo.loading.dtypes.dtype_name` accepts (``bf16``, ``bfloat16``...)."""

    name = "dtype"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[float32|bfloat16|float16]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return dtype_name(value)
        except UsageError as exc:
            self.fail(str(exc), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in choices() if c.startswith(incomplete.lower())]
