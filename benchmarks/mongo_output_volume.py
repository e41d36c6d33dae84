"""Output volume into MongoDB: a run printing 20 MB with 0.5 s heartbeats, gnomon versus Sacred.

The experiment prints LINES lines of WIDTH bytes (default 200,000 × 100 bytes =
20 MB) over a few seconds, stdout redirected to a file, ``-b 0.5``, with a
MongoObserver whose connection goes through a counting proxy to SecantusDB. For
each side it reports the bytes the process sent to the database against the size
of the output, the run's final status in the database, the size of the run
document, and whether the whole output can be read back (gnomon: its GridFS output
file; Sacred: ``captured_out``).

Target: gnomon sends at most 1.2× the output and loses nothing (Sacred sends 6.6×
for 8 MB; at 20 MB its run document passes 16 MB and the run stays RUNNING).

    python benchmarks/mongo_output_volume.py [--lines 200000] [--width 100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys

from mongo_side import CountingProxy, mongo_server
from sides import add_side_options, child_env, print_table, run_timed, scratch, sides_from, verdict, write_script
from templates import MONGO_OUTPUT_VOLUME as SCRIPT

TARGET_RATIO = 1.2


def stored_output(db, package: str) -> tuple[str | None, int, str]:
    """(status, run document bytes, whole output) of the single run in ``db``."""
    import bson
    import gridfs

    doc = db.runs.find_one({})
    if doc is None:
        return None, 0, ""
    size = len(bson.encode(doc))
    file_id = (doc.get("gnomon") or {}).get("output_file")
    if package == "gnomon" and file_id is not None:
        return doc.get("status"), size, gridfs.GridFS(db).get(file_id).read().decode()
    return doc.get("status"), size, doc.get("captured_out") or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    add_side_options(parser)
    args = parser.parse_args(argv)
    import pymongo

    output_size = args.lines * args.width
    rows, ok, ratios = [], True, {}
    with mongo_server() as (host, port), scratch("mongo-output") as tmp:
        proxy = CountingProxy((host, port))
        client = pymongo.MongoClient(host, port)
        for side in sides_from(args):
            workdir = tmp / side.name
            script = write_script(workdir, "out.py", side.render(SCRIPT))
            env = child_env(workdir)
            env.update(BENCH_MONGO_URL=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true", BENCH_DB=f"out_{side.name}")
            proxy.reset()
            timed = run_timed(
                [side.python, script.name, "with", f"lines={args.lines}", f"width={args.width}",
                 f"seconds={args.seconds}", "-b", "0.5"],
                cwd=workdir, env=env, stdout_path=workdir / "stdout.txt",
            )
            sent = proxy.sent
            status, doc_size, text = stored_output(client[f"out_{side.name}"], side.package)
            body = "x" * (args.width - 12)
            printed = sum(1 for line in text.splitlines() if line.endswith(body) and line[:10].isdigit())
            complete = printed == args.lines - 1 and ("LAST-LINE " + "z" * (args.width - 11) + "\n") in text
            ratio = sent / output_size
            ratios[side.name] = ratio
            if side.name == "gnomon":
                ok = ok and complete and status == "COMPLETED" and timed.returncode == 0
            rows.append([side.name, f"{sent / 1e6:.1f} MB", f"{ratio:.2f}×", str(status), f"{doc_size / 1e6:.2f} MB",
                         "yes" if complete else f"no ({printed:,} of {args.lines:,} lines)", f"{timed.seconds:.1f} s"])
        client.close()
        proxy.close()
    print_table(
        f"a run printing {output_size / 1e6:.0f} MB with 0.5 s heartbeats into MongoDB (SecantusDB)",
        ["side", "bytes sent", "× output", "final status", "run document", "whole output stored", "process"],
        rows,
    )
    g = ratios.get("gnomon")
    print(f"\ntarget: gnomon sends <= {TARGET_RATIO}× the output, nothing lost: {verdict(g, TARGET_RATIO)}"
          + (f" ({g:.2f}×)" if g is not None else ""))
    return 0 if ok and g is not None and g <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
