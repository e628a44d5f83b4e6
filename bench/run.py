"""Run the benchmark scenarios against `tickcast serve`, side by side with goref.

Each scenario is one run of ../shared/bench/compare.py (goref and tickcast in
the same run, so their ratio is meaningful on a noisy shared machine); the
printed table and the JSON are saved under bench/results/.

    python bench/run.py                      # smoke rooms crowd slowpoke idle idle2000
    python bench/run.py rooms crowd          # some of them
    python bench/run.py ramp                 # the long one (~15 min), run it alone

`idle2000` is the `idle` scenario at 250 rooms (2,000 clients), which does not
saturate a 2-core machine. The server runs from this checkout's `src/` with
the interpreter running this script (so a virtualenv's uvloop is used).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COMPARE = ROOT.parent / "shared" / "bench" / "compare.py"
if not DEFAULT_COMPARE.exists():  # a worktree under /work/wt/<name>
    DEFAULT_COMPARE = ROOT.parent.parent / "shared" / "bench" / "compare.py"
# --no-http --no-record: the bench measures the relay (recording's cost has its own
# figures in docs/operations.md, made with bench/recording.py)
SERVER_CMD = (
    "{python} -m tickcast serve --host {{host}} --port {{port}} --tick-rate {{tick}}"
    " --no-http --no-record"
)
SCENARIOS = {
    "smoke": ("smoke", ""),
    "rooms": ("rooms", ""),
    "crowd": ("crowd", ""),
    "slowpoke": ("slowpoke", ""),
    "idle": ("idle", ""),
    "idle2000": ("idle", "-rooms 250"),
    "ramp": ("ramp", ""),
}
DEFAULT = ["smoke", "rooms", "crowd", "slowpoke", "idle", "idle2000"]


def run(name: str, compare: Path, out_dir: Path, extra: list[str]) -> int:
    scenario, loadgen_args = SCENARIOS[name]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = out_dir / f"{name}-{stamp}"
    cmd = [
        sys.executable,
        str(compare),
        "--scenario",
        scenario,
        "--server-cmd",
        SERVER_CMD.format(python=sys.executable),
        "--out",
        str(base.with_suffix(".json")),
        *extra,
    ]
    if loadgen_args:
        cmd += ["--loadgen-args", loadgen_args]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base.with_suffix(".txt").write_text(proc.stdout)
    # the summary tables are the part after the last scenario heading
    tail = proc.stdout[proc.stdout.rfind("\n== ") :]
    print(tail, flush=True)
    return proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help=f"some of {', '.join(SCENARIOS)}")
    ap.add_argument("--compare", type=Path, default=DEFAULT_COMPARE, help="path of compare.py")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--only-target", action="store_true", help="skip goref (no ratios)")
    a = ap.parse_args()
    unknown = [s for s in a.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    extra = ["--only", "target"] if a.only_target else []
    worst = 0
    for name in a.scenarios or DEFAULT:
        worst = max(worst, run(name, a.compare, a.out_dir, extra))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
