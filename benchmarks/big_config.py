"""A 10 MB config list: what it costs a run, gnomon versus Sacred.

The experiment's config scope builds ``big = list(range(1_250_000))`` (10 MB as
JSON) and its main function returns ``len(big)``. Measured per side, as the median
wall-clock time of N processes each:

* ``hello``        the same script with a one-item list (start-up, the baseline),
* ``scope -u``     the big list from the config scope, unobserved,
* ``scope -F``     the same, recorded in file storage (config.json holds the list),
* ``file -u``      the list read from a 10 MB JSON config file (``with big.json``),

and the time each big-config run adds to the baseline. Every run is checked: exit
status 0, and the printed length is 1,250,000. Target: the big list adds at most 1 s
to an unobserved run (before the config was copied once, it added about 17 s).

    python benchmarks/big_config.py [-n 3] [--sacred-python PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sides import (
    Side,
    add_side_options,
    child_env,
    failure,
    fmt_seconds,
    median,
    print_table,
    ratio_text,
    run_timed,
    scratch,
    sides_from,
    verdict,
    write_script,
)
from templates import BIG_CONFIG as SCRIPT

ITEMS = 1_250_000
TARGET = 1.0  # seconds the big list may add to an unobserved run

# (name, items the scope builds, arguments); every case but hello ends with ITEMS items.
CASES = (
    ("hello", 1, ["-u"]),
    ("scope -u", ITEMS, ["-u"]),
    ("scope -F", ITEMS, ["-F", "runs"]),
    ("file -u", 1, ["-u", "with", "big.json"]),
)


def measure(side: Side, rounds: int, tmp: Path) -> dict[str, float]:
    """Median seconds per case for one side; exits with status 1 on a failed run."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in CASES}
    for round_index in range(rounds):
        for name, items, args in CASES:
            folder = tmp / side.name / f"{name.replace(' ', '_')}_{round_index}"
            script = write_script(folder, "exp.py", side.render(SCRIPT).replace("ITEMS", str(items)))
            if name.startswith("file"):
                (folder / "big.json").write_text(json.dumps({"big": list(range(ITEMS))}))
            timed = run_timed([side.python, str(script), *args], folder, child_env(folder))
            expected = f"LENGTH {1 if name == 'hello' else ITEMS}"
            if timed.returncode != 0 or expected not in timed.stdout:
                print(failure(side, f"{name} run", timed))
                sys.exit(1)
            times[name].append(timed.seconds)
    return {name: median(values) for name, values in times.items()}


def _shown(seconds: float | None) -> str:
    return fmt_seconds(seconds) if seconds is not None else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3, help="processes per case and side (median)")
    add_side_options(parser)
    args = parser.parse_args()
    sides = sides_from(args)
    results: dict[str, dict[str, float]] = {}
    with scratch("big-config") as tmp:
        for side in sides:
            results[side.name] = measure(side, args.n, tmp)
    gnomon = results.get("gnomon")
    sacred = results.get("sacred")
    rows = []
    for name, _, _ in CASES:
        g = gnomon[name] if gnomon else None
        s = sacred[name] if sacred else None
        rows.append([name, _shown(g), _shown(s), ratio_text(g, s)])
    title = f"Wall-clock per run, median of {args.n} ({ITEMS:,}-item config list)"
    print_table(title, ["case", "gnomon", "sacred", "ratio"], rows)
    added_rows = []
    for name, _, _ in CASES[1:]:
        g = gnomon[name] - gnomon["hello"] if gnomon else None
        s = sacred[name] - sacred["hello"] if sacred else None
        added_rows.append([name, _shown(g), _shown(s)])
    print_table("Added by the big list (case minus hello)", ["case", "gnomon", "sacred"], added_rows)
    added = gnomon["scope -u"] - gnomon["hello"] if gnomon else None
    print(f"\nTarget: the list adds at most {TARGET:.0f} s to an unobserved run: {verdict(added, TARGET)}")
    return 0 if gnomon is None or added is None or added <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
