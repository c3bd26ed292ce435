"""Table formatting shared by every command that prints or writes tables (transfer, quickstart,
sweep tables, correlate): the paper's before/gain cells, Markdown / CSV / LaTeX frames and the Rich
terminal table."""

from __future__ import annotations

import math

from disentkit.errors import DisentkitError

FORMATS = ("md", "csv", "latex")


def cell(before: float | None, after: float | None) -> str:
    """The paper's cell: ``before×100 (+gain×100)``; before alone when there is no after."""
    if before is None or not math.isfinite(before):
        return "–"
    if after is None or not math.isfinite(after):
        return f"{100 * before:.1f}"
    return f"{100 * before:.1f} ({100 * (after - before):+.1f})"


def cell_raw(before: float | None, after: float | None) -> str:
    """A cell for unbounded scores (reconstruction, KL): ``before (+change)`` without ×100."""
    if before is None:
        return "–"
    if after is None:
        return f"{before:.2f}"
    return f"{before:.2f} ({after - before:+.2f})"


def spread_cell(before_mean: float, before_std: float, gain_mean: float, gain_std: float) -> str:
    """Over several models: ``51.3 ± 2.1 (+16.7 ± 1.0)``; the ± part is omitted for one model (NaN std)."""

    def number(mean: float, std: float, signed: bool) -> str:
        if math.isnan(mean):
            return "–"
        text = f"{mean:+.1f}" if signed else f"{mean:.1f}"
        return text if math.isnan(std) else f"{text} ± {std:.1f}"

    return f"{number(before_mean, before_std, False)} ({number(gain_mean, gain_std, True)})"


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise DisentkitError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def titled(title: str, body: str, fmt: str) -> str:
    """A table under its title: a bold line in Markdown, a comment in LaTeX."""
    if fmt == "latex":
        return f"% {title}\n{body}"
    return f"**{title}**\n\n{body}"


def _text(value) -> str:
    import numpy as np

    if isinstance(value, (float, np.floating)):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def format_frame(frame, fmt: str, index_name: str = "") -> str:
    """A pandas DataFrame as a Markdown table, CSV or a LaTeX tabular (numbers to 3 decimals)."""
    check_format(fmt)
    if fmt == "csv":
        return frame.to_csv(index_label=index_name, float_format="%.4f")
    header = [index_name, *map(str, frame.columns)]
    rows = [
        [str(idx), *(_text(v) for v in row)] for idx, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    escape = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$").replace("→", r"$\to$")  # noqa: E731
    lines = [r"\begin{tabular}{l" + "r" * len(frame.columns) + "}", r"\toprule"]
    lines.append(" & ".join(map(escape, header)) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(map(escape, r)) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def print_table(rows: list[dict], title: str) -> None:
    """Rows of ``{column: text}`` as a Rich table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for name in columns:
        table.add_column(name, justify="left" if name == "factor" else "right")
    for row in rows:
        table.add_row(*[str(row.get(name, "")) for name in columns])
    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough that no cell is cut
        console = Console(width=max(console.width, 150))
    console.print(table)
