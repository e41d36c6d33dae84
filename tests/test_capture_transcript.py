"""A run's whole output kept on disk (gnomon.capture.Transcript), and memory that stays flat."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gnomon import Experiment
from gnomon.capture import Transcript
from gnomon.testing import RecordingObserver


def test_small_output_stays_in_memory() -> None:
    transcript = Transcript()
    transcript.append("one\n")
    transcript.append("")
    transcript.append("two\n")
    assert transcript.text() == "one\ntwo\n"
    assert len(transcript) == 8
    assert not transcript.on_disk


@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.text(max_size=40), max_size=30))
def test_text_survives_the_move_to_disk(pieces: list[str]) -> None:
    transcript = Transcript(memory_limit=50)
    for piece in pieces:
        transcript.append(piece)
    whole = "".join(pieces)
    assert transcript.text() == whole
    assert len(transcript) == len(whole)
    assert transcript.on_disk == (len(whole) > 50)
    transcript.append("more \u4e2d\udcff")  # a lone surrogate, as surrogateescape makes
    assert transcript.text() == whole + "more \u4e2d\udcff"
    transcript.close()
    assert transcript.text() == ""


def test_captured_out_of_a_large_run_is_read_back_from_disk(tmp_path: Path) -> None:
    ex = Experiment("large_output")
    observer = RecordingObserver()
    ex.observers.append(observer)
    lines = [f"{i:08d} " + "y" * 70 for i in range(30000)]  # about 2.4 MB

    @ex.main
    def main() -> None:
        for line in lines:
            print(line)

    run = ex.run(options={"--capture": "sys", "--loglevel": "ERROR"})
    expected = "".join(line + "\n" for line in lines)
    assert run._output.on_disk
    assert run.captured_out == expected
    assert observer.output == expected
    offsets = [event.offset for event in observer.of_kind("output")]  # type: ignore[attr-defined]
    texts = [event.text for event in observer.of_kind("output")]  # type: ignore[attr-defined]
    assert offsets == [sum(len(t) for t in texts[:i]) for i in range(len(texts))]


PRINTER = textwrap.dedent(
    """
    import json, resource, sys
    from gnomon import Experiment

    megabytes, storage, result = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ex = Experiment("printer")

    @ex.main
    def main():
        line = "z" * 99
        for _ in range(megabytes * 10_000):
            print(line)

    ex.run_commandline(["printer", "-F", storage, "-C", "tee", "-l", "ERROR"])
    with open(result, "w") as f:
        json.dump({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f)
    """
)


def peak_kb(tmp_path: Path, megabytes: int) -> int:
    script = tmp_path / "printer.py"
    script.write_text(PRINTER)
    result = tmp_path / f"peak-{megabytes}.json"
    proc = subprocess.run(
        [sys.executable, str(script), str(megabytes), str(tmp_path / f"runs-{megabytes}"), str(result)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    stored = (tmp_path / f"runs-{megabytes}" / "1" / "cout.txt").stat().st_size
    assert stored == megabytes * 10_000 * 100
    return int(json.loads(result.read_text())["peak_kb"])


def test_peak_memory_does_not_grow_with_output(tmp_path: Path) -> None:
    small, large = peak_kb(tmp_path, 2), peak_kb(tmp_path, 40)
    grown_mb = (large - small) / 1024
    # Printing 38 MB more must not cost anything like 38 MB more (it did: the whole
    # output was held in memory). The margin covers output waiting between two
    # shipments on a loaded machine.
    assert grown_mb < 20, f"peak memory grew by {grown_mb:.0f} MB for 38 MB more output"
