"""Options from dataclass fields: one source for the CLI flags and the docs' option tables.

A config field is an option when it is built with :func:`option`, which keeps in the field's
metadata:

``help``
    what the option does (every field must have one);
``group``
    ``"experimental"`` for options kept but measured not to help: ``--help`` and the docs show
    them apart;
``flag``
    the CLI flag when it is not ``--field-name``;
``parse``
    turns the CLI's text into the field's value (``k``: ``"1"`` or ``"random"``);
``none_as``
    the CLI value that stands for None (``--clip 0``: no clipping);
``cli``
    False: not a flag of the generated command (the command sets it another way).

:func:`with_options` adds a config's options to a Typer command, :func:`config_values` turns the
parsed flags back into field values, :func:`options_markdown` writes the table the docs show.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

EXPERIMENTAL = "experimental"
#: the ``--help`` panel of the experimental options
EXPERIMENTAL_PANEL = "Experimental"
_UNSET = object()


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,  # noqa: A002 - the metadata key Typer and the docs read
    default_factory: Any = dataclasses.MISSING,
    group: str | None = None,
    flag: str | None = None,
    parse: Callable[[str], Any] | None = None,
    none_as: Any = _UNSET,
    cli: bool = True,
) -> Any:
    """A dataclass field that is an option (see the module docstring for the keys)."""
    metadata: dict[str, Any] = {"help": help, "cli": cli}
    extra = {"group": group, "flag": flag, "parse": parse}
    metadata |= {key: value for key, value in extra.items() if value is not None}
    if none_as is not _UNSET:
        metadata["none_as"] = none_as
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Option:
    """One field of a config seen as an option."""

    name: str
    type: Any  # the field's resolved annotation
    default: Any  # the field's default; dataclasses.MISSING when the field is required
    help: str
    group: str | None = None
    flag: str | None = None
    parse: Callable[[str], Any] | None = None
    none_as: Any = _UNSET
    cli: bool = True

    @property
    def experimental(self) -> bool:
        return self.group == EXPERIMENTAL

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def cli_type(self) -> Any:
        """The type Typer parses: text where a parser or a comma list takes over."""
        base, optional = _unwrap_optional(self.type)
        if self.parse is not None or typing.get_origin(base) is tuple:
            return str
        if base not in (bool, int, float, str):
            raise TypeError(f"option {self.name}: {self.type} needs a 'parse' function to be a flag")
        # None stays a CLI value unless a number stands for it
        return typing.Optional[base] if optional and self.none_as is _UNSET else base  # noqa: UP045

    def cli_default(self) -> Any:
        """The default as the CLI shows and parses it."""
        if self.default is dataclasses.MISSING:
            return ...
        if self.default is None:
            return None if self.none_as is _UNSET else self.none_as
        if isinstance(self.default, tuple):
            return ",".join(map(str, self.default))
        return str(self.default) if self.parse is not None else self.default

    def from_cli(self, value: Any) -> Any:
        """The field's value for a parsed CLI value."""
        if value is None or (self.none_as is not _UNSET and value == self.none_as):
            return None
        if self.parse is not None:
            return self.parse(value)
        if typing.get_origin(_unwrap_optional(self.type)[0]) is tuple:
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    def shown_default(self) -> str:
        """The default as the docs' table writes it."""
        default = self.cli_default()
        if default is ...:
            return "required"
        if isinstance(default, bool):
            return str(default).lower()
        return "none" if default is None else str(default)


def options(cls: type, cli_only: bool = False) -> list[Option]:
    """Every field of dataclass ``cls`` as an :class:`Option`, in field order.

    A field without ``help`` metadata is a TypeError: every option says what it does.
    """
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        if "help" not in field.metadata:
            raise TypeError(
                f"{cls.__name__}.{field.name} has no help: build it with disentkit.options.option"
            )
        default = field.default
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        found.append(Option(field.name, hints[field.name], default, **dict(field.metadata)))
    return [opt for opt in found if opt.cli or not cli_only]


def field_help(cls: type, name: str) -> str:
    """The help text of field ``name`` of ``cls``."""
    return next(opt.help for opt in options(cls) if opt.name == name)


def with_options(cls: type, skip: Iterable[str] = ()) -> Callable[[Callable], Callable]:
    """Decorator: the command's ``**kwargs`` become ``cls``'s CLI options (all but ``skip``).

    The command's own parameters come first in ``--help``; the generated ones arrive in the
    ``**kwargs``, to be turned into field values by :func:`config_values`.
    """
    import typer

    skipped = set(skip)

    def decorate(func: Callable) -> Callable:
        own = inspect.signature(func, eval_str=True)
        kept = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        clash = {p.name for p in kept} & {opt.name for opt in options(cls) if opt.name not in skipped}
        if clash:
            raise TypeError(
                f"{func.__name__}: {', '.join(sorted(clash))} are both hand-written and generated"
            )
        generated = []
        for opt in options(cls, cli_only=True):
            if opt.name in skipped:
                continue
            decls = [opt.flag] if opt.flag else []
            panel = EXPERIMENTAL_PANEL if opt.experimental else None
            info = typer.Option(opt.cli_default(), *decls, help=opt.help, rich_help_panel=panel)
            kind = inspect.Parameter.KEYWORD_ONLY
            generated.append(inspect.Parameter(opt.name, kind, default=info, annotation=opt.cli_type()))
        func.__signature__ = own.replace(parameters=kept + generated)
        return func

    return decorate


def config_values(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """Field values of ``cls`` from the parsed CLI ``params`` (the keys that are its CLI options)."""
    return {
        opt.name: opt.from_cli(params[opt.name]) for opt in options(cls, cli_only=True) if opt.name in params
    }


def options_markdown(cls: type) -> str:
    """A Markdown table of ``cls``'s options (flag, type, default, help); the experimental ones follow
    in a table of their own. Fields that are not flags show their name instead of a flag."""
    found = options(cls)
    stable = [opt for opt in found if not opt.experimental]
    experimental = [opt for opt in found if opt.experimental]
    text = _table(stable)
    if experimental:
        text += "\n**Experimental** (not in the papers' objectives; their defaults switch them off):\n\n"
        text += _table(experimental)
    return text


def _table(opts: list[Option]) -> str:
    rows = ["| Option | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for opt in opts:
        name = opt.flag_name if opt.cli or opt.flag else f"{opt.name} (Python only)"
        cells = [f"`{name}`", _type_name(opt.type), f"`{opt.shown_default()}`", opt.help]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return "comma list"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return functools.reduce(operator.or_, args), optional
    return tp, False
