"""Settings as people see them: the ``ROVER_*`` table for ``--help``, errors that name variables.

One place derives every variable name from a settings class (its ``env_prefix`` plus the field
name), so ``--help``, error messages and docs/operations.md's table cannot disagree.
"""

from __future__ import annotations

import re
import textwrap
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsError as PydanticSettingsError

__all__ = [
    "SettingsError",
    "env_name",
    "env_names",
    "load_settings",
    "settings_help",
    "shown_default",
]

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """A ``ROVER_*`` value is invalid; the message names each variable, one line each."""


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable of ``cls.field`` (e.g. ``ROVER_CLI_TIMEOUT_SECONDS``)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Field name -> environment variable, for every field of ``cls``."""
    return {field: env_name(cls, field) for field in cls.model_fields}


def shown_default(cls: type[BaseSettings], field: str) -> str:
    """The default of ``cls.field`` as a person would type it."""
    default = cls.model_fields[field].get_default(call_default_factory=True)
    if default is None:
        return "(none)"
    if isinstance(default, list | tuple | dict):
        return repr(list(default) if isinstance(default, tuple) else default)
    return str(default)


def load_settings(cls: type[S]) -> S:
    """``cls()`` from the environment; a bad value raises SettingsError naming the variable."""
    try:
        return cls()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            location = problem.get("loc") or ()
            field = str(location[0]) if location else ""
            name = env_name(cls, field) if field in cls.model_fields else field or "ROVER_*"
            given = problem.get("input")
            shown = f"={given!r}" if isinstance(given, str | int | float) else ""
            lines.append(f"{name}{shown}: {problem.get('msg', 'invalid value')}")
        raise SettingsError("\n".join(lines)) from None
    except PydanticSettingsError as error:  # a JSON value that does not parse
        found = re.search(r'field "(\w+)"', str(error))
        field = found.group(1) if found else ""
        name = env_name(cls, field) if field in cls.model_fields else "ROVER_*"
        # The value is not echoed: it may be a secret (ROVER_AUTH_TOKENS).
        raise SettingsError(f"{name}: not valid JSON") from None


def settings_help(cls: type[BaseSettings], width: int = 79) -> str:
    """Plain text for ``--help``: each variable, its default and what it does."""
    out = ["settings (environment variables):"]
    for field, info in cls.model_fields.items():
        name = env_name(cls, field)
        out.append(f"  {name} (default: {shown_default(cls, field)})")
        description = (info.description or "").strip()
        if description:
            out += textwrap.wrap(
                description, width=width, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
    return "\n".join(out)
