"""Training logs: TensorBoard scalars and a CSV with the same numbers, plus the Rich progress bar."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class RunLogger:
    """Writes one row per log interval to ``metrics.csv`` and TensorBoard (``tensorboard/``).

    On resume, rows after the resumed step are dropped so the CSV reads as one uninterrupted run.
    """

    def __init__(self, run_dir: Path, start_step: int) -> None:
        self.csv_path = run_dir / "metrics.csv"
        self._truncate_after(start_step)
        self._fields: list[str] | None = None
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start_step or None)

    def _truncate_after(self, step: int) -> None:
        if not self.csv_path.exists():
            return
        with self.csv_path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            return
        kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
        with self.csv_path.open("w", newline="") as handle:
            csv.writer(handle).writerows(kept)

    def log(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        new_file = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        if self._fields is None:
            self._fields = ["step", *values]
        with self.csv_path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self._fields, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({"step": step, **values})

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def make_progress(enabled: bool) -> Progress:
    """Steps done/total, steps/s and ETA; ``enabled=False`` gives a silent bar."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} steps/s"),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        disable=not enabled,
    )
