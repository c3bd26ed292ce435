"""CLI commands of disentkit.sweep: ``sweep run``, ``sweep status``, ``table``, ``correlate``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from disentkit.errors import DisentkitError

sweep_app = typer.Typer(
    help="Run the protocol as a resumable sweep of hashed jobs, locally or on a Ray cluster.",
    no_args_is_help=True,
)


SET_HELP = "Override a plan entry, KEY=VALUE with a YAML value (repeatable): steps=200, train.batch=32."


def _load(plan_path: Path, results: Path | None, overrides: list[str] | None = None):
    from disentkit.sweep.plan import expand, load_plan

    plan = load_plan(plan_path, overrides)
    folder = results or (Path(plan.results) if plan.results else Path("runs") / "sweeps" / plan.name)
    return plan, expand(plan), folder


@sweep_app.command("run")
def run_command(
    plan_path: Path = typer.Argument(..., metavar="PLAN.yaml", help="Plan file (see plans/)."),
    executor: str = typer.Option("local", help="local (process pool) or ray."),
    ray_address: str = typer.Option(
        None, help="'auto' or host:port of a Ray cluster; default: start a local one."
    ),
    workers: int = typer.Option(
        None, help="Worker processes (local) or CPUs of a new local Ray cluster; default: all CPUs."
    ),
    results: Path = typer.Option(
        None, help="Results folder; default: the plan's `results`, else runs/sweeps/<name>."
    ),
    retry_failed: bool = typer.Option(True, help="Run jobs that failed in an earlier sweep again."),
    max_retries: int = typer.Option(2, help="Re-queues of a job whose worker process died."),
    ship_results: bool = typer.Option(False, help="Ray without shared storage: return files to the driver."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    overrides: list[str] = typer.Option(None, "--set", help=SET_HELP),
    pack: int = typer.Option(
        None, help="Run up to N compatible train jobs as one task (a model pack); overrides the plan's pack."
    ),
) -> None:
    """Run or resume a plan: finished jobs are skipped, killed ones re-queued, failures recorded."""
    from rich.console import Console

    from disentkit.sweep.plan import plan_summary
    from disentkit.sweep.scheduler import check_results_folder, run_sweep

    # --pack is the plan's pack key set from the command line, checked as the plan's
    overrides = [*(overrides or []), *([f"pack={pack}"] if pack is not None else [])]
    plan, jobs, folder = _load(plan_path, results, overrides)
    check_results_folder(folder)  # before the header: a refusal stays one line
    console = Console(stderr=True)
    kinds = ", ".join(f"{n} {k}" for k, n in plan_summary(jobs).items())
    packs = f", packs of {plan.pack}" if plan.pack > 1 else ""
    line = f"sweep: {len(jobs)} jobs ({kinds}) → {folder} [{executor}{packs}]"
    console.print(line, highlight=False, markup=False, soft_wrap=True)  # [local] is text, not a style
    report = run_sweep(
        jobs,
        folder,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        retry_failed=retry_failed,
        max_retries=max_retries,
        ship=ship_results,
        progress=progress,
        console=console,
        pack=plan.pack,
    )
    counts = report.counts()
    typer.echo(
        f"done {counts['done']}, failed {counts['failed']}, blocked {counts['blocked']}, pending {counts['pending']} "
        f"({report.executed} executed, {report.requeued_stale} re-queued after a kill, {report.elapsed_s:.1f}s)"
    )
    labels = {job.key: job.label for job in jobs}
    for key, error in report.errors.items():
        typer.echo(
            f"  {report.states[key]}: {labels[key]}: {error} (log: {folder}/jobs/{_dirname(jobs, key)}/log.txt)"
        )
    if not report.ok:
        raise typer.Exit(1)


def _dirname(jobs, key: str) -> str:
    return next(job.dirname for job in jobs if job.key == key)


@sweep_app.command("status")
def status_command(
    plan_path: Path = typer.Argument(..., metavar="PLAN.yaml"),
    results: Path = typer.Option(None, help="Results folder (default as in `sweep run`)."),
    jobs_table: bool = typer.Option(True, "--jobs/--no-jobs", help="List every job, not only the counts."),
    watch: bool = typer.Option(False, help="Follow a running sweep with a progress bar until it ends."),
    overrides: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Done / running / failed / blocked / pending counts and a table of the plan's jobs."""
    from rich.console import Console

    _, jobs, folder = _load(plan_path, results, overrides)
    console = Console()
    if watch:
        _watch(jobs, folder, console)
    _print_status(jobs, folder, console, jobs_table)


def _print_status(jobs, folder: Path, console, jobs_table: bool) -> None:
    from rich.table import Table

    from disentkit.sweep.scheduler import job_states
    from disentkit.sweep.store import SweepLock

    states = job_states(jobs, folder)
    counts = {s: 0 for s in ("done", "running", "failed", "blocked", "pending")}
    for state, _ in states.values():
        counts[state] += 1
    holder = SweepLock(folder).holder() if folder.exists() else None
    console.print(
        f"results: {folder} — " + (f"sweep running ({holder})" if holder else "no sweep running"),
        highlight=False,
        soft_wrap=True,
    )
    console.print("  ".join(f"{k} {v}" for k, v in counts.items()), highlight=False, soft_wrap=True)
    if jobs_table:
        table = Table("state", "job", "key", "detail")
        for job in jobs:
            state, detail = states[job.key]
            table.add_row(state, job.label, job.key, detail)
        console.print(table)


def _watch(jobs, folder: Path, console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from disentkit.sweep.scheduler import job_states

    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as bar:
        task = bar.add_task("", total=len(jobs))
        while True:
            states = [s for s, _ in job_states(jobs, folder).values()]
            finished = sum(states.count(s) for s in ("done", "failed", "blocked"))
            bar.update(task, completed=finished, description=f"running {states.count('running')}")
            if states.count("running") == 0 and finished == len(jobs):
                return
            if states.count("running") == 0 and not _locked(folder):
                return
            time.sleep(1.0)


def _locked(folder: Path) -> bool:
    from disentkit.sweep.store import SweepLock

    return folder.exists() and SweepLock(folder).holder() is not None


ALL_HELP = "Every finished job in the folders, not only those of each folder's latest plan."


def table_command(
    results_dir: list[Path] = typer.Argument(
        ..., metavar="RESULTS_DIR...", help="One or more results folders."
    ),
    all_jobs: bool = typer.Option(False, "--all", help=ALL_HELP),
    format: str = typer.Option("md", "--format", help="md, csv or latex."),
    out: Path = typer.Option(None, help="Write to this file instead of stdout."),
    classifiers: str = typer.Option(
        None, help="Comma-separated classifiers (gbt,mlp,hgb); default: all present."
    ),
) -> None:
    """The paper's transfer tables: per source → target and factor, `before (+gain)` ± std over models,
    then the paper's findings with how many models each holds for."""
    import pandas as pd

    from disentkit.sweep.results import findings_summary, load_findings, load_results, transfer_tables
    from disentkit.tables import format_frame

    frame = load_results(results_dir, all_jobs=all_jobs)
    chosen = [c.strip() for c in classifiers.split(",") if c.strip()] if classifiers else None
    text = transfer_tables(frame, fmt=format, classifiers=chosen)
    summary = findings_summary(frame, load_findings(results_dir, all_jobs=all_jobs))
    if summary:
        table = format_frame(pd.DataFrame(summary).set_index("claim"), format, "claim")
        text += "\n\n" + ("**Findings over the models**\n\n" if format == "md" else "") + table
    _emit(text, out)


def correlate_command(
    results_dir: list[Path] = typer.Argument(
        ..., metavar="RESULTS_DIR...", help="One or more results folders."
    ),
    all_jobs: bool = typer.Option(False, "--all", help=ALL_HELP),
    out: Path = typer.Option(None, "--out", help="Heatmap image (PNG/PDF/SVG)."),
    format: str = typer.Option("md", "--format", help="Table format: md, csv or latex."),
    phase: str = typer.Option("all", help="Evaluations to use: all, source, before or after."),
) -> None:
    """Spearman rank correlation of OMES, OS, MES with DCI, MIG, BetaVAE, FactorVAE and accuracy."""
    from disentkit.sweep.results import correlation_heatmap, correlation_table, load_results
    from disentkit.tables import format_frame

    frame = load_results(results_dir, all_jobs=all_jobs)
    corr = correlation_table(frame, phase=phase)
    typer.echo(format_frame(corr, format, index_name="metric"))
    counts = ", ".join(f"{name} {n}" for name, n in corr.attrs["n"].items())
    typer.echo(f"observations per column: {counts}")
    if out is not None:
        correlation_heatmap(corr, out)
        typer.echo(f"heatmap: {out}")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as exc:
        raise DisentkitError(f"cannot write {out}: {exc}") from None
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.add_typer(sweep_app, name="sweep")
    app.command("table")(table_command)
    app.command("correlate")(correlate_command)
