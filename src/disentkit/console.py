"""Progress lines and spinners on stderr for the long steps of a command (silent when disabled)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext


def say(enabled: bool, message: str, style: str = "bold") -> None:
    """One line on the console (stderr)."""
    if enabled:
        from rich.console import Console

        Console(stderr=True).print(f"[{style}]{message}[/]")


def spinner(enabled: bool, message: str) -> AbstractContextManager:
    """A Rich spinner with ``message`` while the block runs."""
    if not enabled:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(f"[bold]{message}[/]")
