"""Run the benchmarks and write benchmarks/RESULTS.md.

Each ``benchmarks/bench_<topic>.py`` defines ``run() -> str`` returning a Markdown section (tables
with the measured figure *and* the naive baseline measured in the same run, plus the ratio), or
None when the machine lacks what the topic measures (a GPU): its section is then left as it is.
``python -m benchmarks.run`` runs all; ``python -m benchmarks.run data metrics`` runs only those and
replaces just their sections, keeping the others. Every section is stamped with the machine, the
command and the date.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import platform
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HEADER = "# Benchmark results\n\nWritten by `make bench` (`python -m benchmarks.run [topic ...]`). Each section says where and when it was measured.\n"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}, Python {platform.python_version()}, torch {torch.__version__}"
    )


def topics() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def read_sections() -> dict[str, str]:
    if not RESULTS.exists():
        return {}
    parts = re.split(r"(?m)^<!-- section: (\S+) -->\n", RESULTS.read_text())
    return {parts[i]: parts[i + 1].rstrip() + "\n" for i in range(1, len(parts) - 1, 2)}


def write_sections(sections: dict[str, str]) -> None:
    body = [HEADER]
    for name in sorted(sections):
        body.append(f"<!-- section: {name} -->\n{sections[name].rstrip()}\n")
    RESULTS.write_text("\n".join(body))


def main(argv: list[str]) -> int:
    wanted = argv or topics()
    unknown = sorted(set(wanted) - set(topics()))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(topics())}", file=sys.stderr)
        return 2
    for topic in wanted:
        print(f"== benchmark: {topic}", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{topic}")
        text = module.run()
        if text is None:  # nothing to measure here (e.g. no GPU): keep what RESULTS.md holds
            continue
        knobs = "".join(f"{k}={v} " for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
        stamp = (
            f"_Measured {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on {machine()}; "
            f"command: `{knobs}python -m benchmarks.run {topic}`._\n\n"
        )
        sections_entry = f"## {topic}\n\n{stamp}{text.strip()}\n"
        print(text, flush=True)
        sections = {**read_sections(), topic: sections_entry}  # re-read: others may have written meanwhile
        write_sections(sections)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
