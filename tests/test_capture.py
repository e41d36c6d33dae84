"""Output capture and progress-bar folding (gnomon.capture).

Descriptor-level modes run in child processes so pytest's own capture stays out of the way.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnomon.capture import OutputFolder, apply_backspaces_and_linefeeds, start_capture
from gnomon.errors import ConfigError


def reference_fold(text: str) -> tuple[str, str]:
    """A straightforward terminal model, character by character: (committed, pending)."""
    committed: list[str] = []
    line: list[str] = []
    cursor = 0
    for char in text:
        if char == "\n":
            committed.append("".join(line) + "\n")
            line, cursor = [], 0
        elif char == "\r":
            cursor = 0
        elif char == "\b":
            cursor = max(0, cursor - 1)
        else:
            if cursor == len(line):
                line.append(char)
            else:
                line[cursor] = char
            cursor += 1
    return "".join(committed), "".join(line)


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab\u00e9\u4e2d \r\b\n"), max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=8),
)
def test_folder_matches_reference_for_any_chunking(text: str, cuts: list[int]) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    folder = OutputFolder()
    out = "".join(folder.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    committed, pending = reference_fold(text)
    assert out == committed
    assert folder.pending == pending
    assert folder.finish() == pending
    assert folder.pending == ""


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("10%\r20%\r100%\n", "100%\n"),
        ("abcdef\rXY\n", "XYcdef\n"),
        ("abc\b\bX", "aXc"),
        ("line one\r\nline two\r\n", "line one\nline two\n"),
        ("\b\bstart", "start"),
        ("done\r", "done"),
        ("plain\ntext", "plain\ntext"),
    ],
)
def test_apply_backspaces_and_linefeeds(text: str, folded: str) -> None:
    assert apply_backspaces_and_linefeeds(text) == folded


def test_pending_line_can_still_be_redrawn() -> None:
    folder = OutputFolder()
    assert folder.feed("epoch 1: 10%") == ""
    assert folder.pending == "epoch 1: 10%"
    assert folder.feed("\repoch 1: 99%") == ""
    assert folder.feed("\repoch 1: done\nnext") == "epoch 1: done\n"
    assert folder.pending == "next"


@pytest.mark.parametrize("kind", ["plain", "progress"])
def test_folding_20_mb_is_fast(kind: str) -> None:
    if kind == "plain":
        unit = "".join(f"step {i}: loss=0.{i:04d}\n" for i in range(1000))
    else:
        unit = "".join(f"\r{i:3d}%|{'#' * (i // 10):10s}| {i}/1000" for i in range(1000)) + "\n"
    text = unit * (20_000_000 // len(unit) + 1)
    chunk = 65536
    folder = OutputFolder()
    start = time.perf_counter()
    size = 0
    for i in range(0, len(text), chunk):
        size += len(folder.feed(text[i : i + chunk]))
    folder.finish()
    elapsed = time.perf_counter() - start
    assert size > 0
    assert elapsed < 1.0, f"folding 20 MB took {elapsed:.2f} s"


def test_folding_a_long_line_without_newline_is_linear() -> None:
    folder = OutputFolder()
    start = time.perf_counter()
    for _ in range(320):
        folder.feed("." * 65536)
    assert len(folder.finish()) == 320 * 65536
    assert time.perf_counter() - start < 1.0


def test_real_tqdm_output_folds_to_the_final_bar() -> None:
    tqdm = pytest.importorskip("tqdm").tqdm
    capture = start_capture("sys")
    try:
        for _ in tqdm(
            range(50), mininterval=0, miniters=1, ascii=True, desc="train", file=sys.stderr
        ):
            pass
        print("after")
    finally:
        raw = capture.stop()
    assert raw.count("\r") > 10
    lines = apply_backspaces_and_linefeeds(raw).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("train: 100%")
    assert "50/50" in lines[0]
    assert lines[1] == "after"


def test_sys_mode_echoes_records_and_restores() -> None:
    original_out, original_err = sys.stdout, sys.stderr
    capture = start_capture("sys")
    assert capture.mode == "sys"
    assert sys.stdout is not original_out
    # Libraries look at these attributes of sys.stdout.
    assert sys.stdout.encoding == original_out.encoding
    assert sys.stdout.isatty() == original_out.isatty()
    print("to stdout")
    sys.stderr.write("to stderr\n")
    assert capture.read() == "to stdout\nto stderr\n"
    print("more", end="")
    assert capture.stop() == "more"
    assert sys.stdout is original_out
    assert sys.stderr is original_err
    assert capture.stop() == ""


def test_no_mode_records_nothing() -> None:
    capture = start_capture("no")
    print("ignored")
    assert capture.read() == ""
    assert capture.stop() == ""


def test_unknown_mode_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'tea'.*'fd', 'tee'.*Did you mean 'tee'"):
        start_capture("tea")


def test_starting_twice_is_an_error() -> None:
    capture = start_capture("sys")
    try:
        with pytest.raises(RuntimeError, match="already started"):
            capture.start()
    finally:
        capture.stop()


CHILD = textwrap.dedent(
    """
    import ctypes, json, os, subprocess, sys, threading, time
    from gnomon.capture import start_capture

    mode, scenario, result = sys.argv[1], sys.argv[2], sys.argv[3]
    if scenario == "closed_stdout":
        sys.stdout.flush()
        os.close(1)
    if scenario == "split_line":  # room for a slow machine between the two pieces
        import gnomon.capture.pipes
        gnomon.capture.pipes.PARTIAL_LINE_WAIT = 2.0
    capture = start_capture(mode)
    parts = []
    if scenario == "sources":
        print("python print")
        os.write(1, b"os.write fd1\\n")
        os.write(2, b"os.write fd2\\n")
        subprocess.run(["echo", "from echo"], check=True)
        libc = ctypes.CDLL(None)
        libc.printf(b"from printf %d\\n", 42)
        sys.stderr.write("python stderr\\n")
    elif scenario == "buffered":
        stop_reading = threading.Event()
        def heartbeat():
            while not stop_reading.is_set():
                parts.append(capture.read())
        beat = threading.Thread(target=heartbeat)
        beat.start()
        for i in range(20000):
            print(f"line {i}")
        ctypes.CDLL(None).printf(b"c tail without newline")
        stop_reading.set()
        beat.join()
    elif scenario == "split_line":
        os.write(1, b"first half, ")
        time.sleep(0.01)
        os.write(2, b"a line of stderr\\n")
        time.sleep(0.01)
        os.write(1, b"second half\\n")
    elif scenario == "dots":
        started = time.monotonic()
        while time.monotonic() - started < 1.6:
            os.write(1, b".")
            time.sleep(0.005)
        parts.append("[beat]" + capture.read() + "[/beat]")
        os.write(1, b"done\\n")
    elif scenario == "long_line":
        for _ in range(64):
            os.write(1, b"x" * 16384)
        time.sleep(0.03)  # less than the silence that records a partial line
        parts.append("[beat]" + capture.read() + "[/beat]")
        os.write(1, b"\\n")
    elif scenario == "prompt":
        os.write(1, b"Password: ")
        time.sleep(0.5)
        parts.append("[beat]" + capture.read() + "[/beat]")
    elif scenario == "multibyte":
        os.write(1, ("a" + "\\u00e9" * 100000 + "\\u4e2d" * 50000 + "\\n").encode())
    elif scenario == "closed_stdout":
        os.write(1, b"closed stdout still captured\\n")
    elif scenario == "child_holds_pipe":
        print("before", flush=True)
        child = subprocess.Popen(["sleep", "30"])
    started = time.monotonic()
    parts.append(capture.stop())
    took = time.monotonic() - started
    if scenario == "child_holds_pipe":
        child.kill()
        child.wait()
    if scenario != "closed_stdout":  # restored closed, as it was
        print("after stop")
    with open(result, "w") as f:
        json.dump({"captured": "".join(parts), "stop_seconds": took}, f)
    """
)


def run_child(
    tmp_path: Path, mode: str, scenario: str
) -> tuple[dict[str, object], subprocess.CompletedProcess[str]]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(script), mode, scenario, str(result)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(result.read_text()), proc


SOURCES = [
    "python print",
    "os.write fd1",
    "os.write fd2",
    "from echo",
    "from printf 42",
    "python stderr",
]


def test_tee_keeps_a_line_written_in_pieces_whole_beside_the_other_stream(tmp_path: Path) -> None:
    # tee reads stdout and stderr from a pipe each, so it decides how their lines meet
    data, _ = run_child(tmp_path, "tee", "split_line")
    assert sorted(str(data["captured"]).splitlines()) == ["a line of stderr", "first half, second half"]


def test_fd_records_the_writes_of_both_streams_in_their_order(tmp_path: Path) -> None:
    # fd shares one pipe between both descriptors: the order of the writes, as a terminal shows it
    data, _ = run_child(tmp_path, "fd", "split_line")
    assert data["captured"] == "first half, a line of stderr\nsecond half\n"


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_a_partial_line_is_recorded_after_a_short_silence(tmp_path: Path, mode: str) -> None:
    data, _ = run_child(tmp_path, mode, "prompt")
    assert data["captured"] == "[beat]Password: [/beat]"


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_a_line_that_never_pauses_is_recorded_at_least_every_second(tmp_path: Path, mode: str) -> None:
    data, _ = run_child(tmp_path, mode, "dots")
    beat, _, rest = str(data["captured"]).partition("[/beat]")
    assert beat.count(".") > 50  # recorded during the line, not only at its end
    assert (beat + rest).replace("[beat]", "").strip(".") == "done\n"


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_a_very_long_line_is_recorded_in_pieces_as_it_arrives(tmp_path: Path, mode: str) -> None:
    data, _ = run_child(tmp_path, mode, "long_line")
    beat, _, rest = str(data["captured"]).partition("[/beat]")
    assert beat.count("x") >= 64 * 16384 - 65536  # all but the last piece, before the line ended
    assert (beat + rest).replace("[beat]", "") == "x" * 64 * 16384 + "\n"


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_fd_modes_catch_every_kind_of_write(tmp_path: Path, mode: str) -> None:
    data, proc = run_child(tmp_path, mode, "sources")
    captured = str(data["captured"]).splitlines()
    assert sorted(captured) == sorted(SOURCES)
    # Python-level and os.write output keep their order within stdout.
    assert (
        captured.index("python print")
        < captured.index("os.write fd1")
        < captured.index("from echo")
    )
    out_lines, err_lines = proc.stdout.splitlines(), proc.stderr.splitlines()
    if mode == "fd":
        assert out_lines == ["after stop"]
        assert err_lines == []
    else:
        assert sorted(out_lines) == sorted(
            ["python print", "os.write fd1", "from echo", "from printf 42", "after stop"]
        )
        assert out_lines[-1] == "after stop"
        assert sorted(err_lines) == ["os.write fd2", "python stderr"]


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_block_buffered_stdout_loses_nothing(tmp_path: Path, mode: str) -> None:
    data, proc = run_child(tmp_path, mode, "buffered")
    expected = "".join(f"line {i}\n" for i in range(20000)) + "c tail without newline"
    assert data["captured"] == expected
    if mode == "tee":
        assert proc.stdout == expected + "after stop\n"


def test_multibyte_characters_survive_pipe_reads(tmp_path: Path) -> None:
    data, _ = run_child(tmp_path, "fd", "multibyte")
    assert data["captured"] == "a" + "\u00e9" * 100000 + "\u4e2d" * 50000 + "\n"


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_stop_does_not_wait_for_a_child_holding_the_pipe(tmp_path: Path, mode: str) -> None:
    data, proc = run_child(tmp_path, mode, "child_holds_pipe")
    assert data["captured"] == "before\n"
    assert float(data["stop_seconds"]) < 2.0  # type: ignore[arg-type]
    assert proc.stdout.splitlines()[-1] == "after stop"


def test_tqdm_in_tee_mode_echoes_and_records(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    script = tmp_path / "bar.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from tqdm import tqdm
            from gnomon.capture import start_capture, apply_backspaces_and_linefeeds
            capture = start_capture("tee")
            for _ in tqdm(range(30), mininterval=0, miniters=1, ascii=True, desc="bar"):
                pass
            raw = capture.stop()
            open(sys.argv[1], "w").write(apply_backspaces_and_linefeeds(raw))
            """
        )
    )
    out = tmp_path / "folded.txt"
    # Bytes, not text: universal newlines would turn the bar's "\r" into "\n".
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    folded = out.read_text()
    assert folded.count("\n") == 1
    assert folded.startswith("bar: 100%")
    assert "30/30" in folded
    echoed = proc.stderr.decode()
    assert echoed.count("\r") > 10
    assert apply_backspaces_and_linefeeds(echoed) == folded  # the terminal saw the same bar


def test_sys_proxy_works_with_text_written_through_print_file() -> None:
    buffer = io.StringIO()
    capture = start_capture("sys")
    try:
        print("x", file=sys.stdout)
        print("y", file=buffer)  # other streams are not recorded
    finally:
        text = capture.stop()
    assert text == "x\n"
    assert buffer.getvalue() == "y\n"


@pytest.mark.parametrize("mode", ["fd", "tee"])
def test_capture_when_stdout_is_closed(tmp_path: Path, mode: str) -> None:
    data, proc = run_child(tmp_path, mode, "closed_stdout")
    assert data["captured"] == "closed stdout still captured\n"
    assert proc.stdout == ""
