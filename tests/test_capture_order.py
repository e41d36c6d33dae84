"""What the terminal receives and the order output is stored in, under real capture.

Each program runs as its own process on a pseudo-terminal (or with stdout and stderr
sent to one file), once as a plain script and once as a gnomon run, and the bytes the
terminal received are compared.
"""

from __future__ import annotations

import itertools
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LINES = 300  # pairs: 600 lines in all

PROGRAM = textwrap.dedent(
    """
    import os, sys

    def alternate(n):
        for i in range(n):
            print(f"O {i}", flush=True)
            print(f"E {i}", file=sys.stderr, flush=True)

    def stdout_only(n):
        for i in range(n):
            print(f"line {i} " + "x" * (i % 50))
        print("no line end", end="")

    def mixed(n):
        # Python-level and descriptor-level writes (what C code does) taking turns.
        for i in range(n):
            print(f"print {i}", flush=True)
            os.write(1, f"fd1 {i}\\n".encode())
            print(f"stderr {i}", file=sys.stderr, flush=True)
            os.write(2, f"fd2 {i}\\n".encode())

    def forked(n):
        for i in range(n):
            print(f"parent {i}", flush=True)
            pid = os.fork()
            if pid == 0:
                print(f"child {i}", flush=True)
                os._exit(0)
            os.waitpid(pid, 0)

    def raw_bytes(n):
        # sys.stdout.buffer and print share one buffer without gnomon
        for i in range(n):
            sys.stdout.buffer.write(f"bytes {i}\\n".encode())
            print(f"text {i}")

    class Tee:
        # the kind of stream scripts install: the terminal and a copy of their own
        def __init__(self, stream):
            self.stream, self.seen = stream, []

        def write(self, text):
            self.seen.append(text)
            return self.stream.write(text)

        def flush(self):
            self.stream.flush()

        def fileno(self):
            return self.stream.fileno()

    def wrapped(n):
        for i in range(n):
            print(f"wrapped {i}")

    if sys.argv[1] == "wrapped":
        sys.stdout = Tee(sys.stdout)

    BODIES = {
        "wrapped": wrapped,
        "alternate": alternate,
        "stdout_only": stdout_only,
        "mixed": mixed,
        "forked": forked,
        "raw_bytes": raw_bytes,
    }
    body, n = BODIES[sys.argv[1]], int(sys.argv[2])
    if sys.argv[3] == "plain":
        body(n)
    else:
        from gnomon import Experiment

        ex = Experiment("order")

        @ex.main
        def main():
            body(n)

        sys.argv[1:4] = []
        ex.run_commandline()
        if isinstance(sys.stdout, Tee):
            assert "".join(sys.stdout.seen) == "".join(f"wrapped {i}\\n" for i in range(n))
    """
)


def on_terminal(argv: list[str]) -> bytes:
    """Run ``argv`` with stdin, stdout and stderr on one pseudo-terminal; what it received."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    finally:
        os.close(slave)
    received = bytearray()
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal closed it
                break
            if not data:
                break
            received += data
    finally:
        os.close(master)
        proc.wait(timeout=120)
    assert proc.returncode == 0, received.decode(errors="replace")[-2000:]
    return bytes(received)


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    return path


def gnomon_argv(program: Path, body: str, n: int, storage: Path, *flags: str) -> list[str]:
    # -l ERROR: gnomon's own INFO lines would be the only difference on the terminal
    return [sys.executable, str(program), body, str(n), "run", "-F", str(storage), "-l", "ERROR", *flags]


def stored(storage: Path) -> str:
    return (storage / "1" / "cout.txt").read_text()


def reordered_pairs(lines: list[str], expected: list[str]) -> int:
    """How many neighbours of the program's order appear the other way round."""
    position = {line: i for i, line in enumerate(lines)}
    return sum(1 for a, b in itertools.pairwise(expected) if position[a] > position[b])


@pytest.mark.parametrize("mode", ["tee", "sys"])
def test_terminal_receives_the_same_bytes_as_without_gnomon(program: Path, tmp_path: Path, mode: str) -> None:
    plain = on_terminal([sys.executable, str(program), "alternate", str(LINES), "plain"])
    observed = on_terminal(gnomon_argv(program, "alternate", LINES, tmp_path / "runs", "-C", mode))
    assert plain.count(b"\n") == 2 * LINES
    assert observed == plain


def test_stdout_only_output_is_byte_identical_on_the_terminal(program: Path, tmp_path: Path) -> None:
    plain = on_terminal([sys.executable, str(program), "stdout_only", "2000", "plain"])
    observed = on_terminal(gnomon_argv(program, "stdout_only", 2000, tmp_path / "runs"))
    assert observed == plain
    assert stored(tmp_path / "runs").endswith("line 1999 " + "x" * 49 + "\nno line end")


def test_line_flushed_output_is_stored_in_the_programs_order(program: Path, tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    argv = [sys.executable, str(program), "alternate", str(LINES), "run", "-F", str(storage)]
    on_terminal(argv)
    lines = stored(storage).splitlines()
    expected = [f"{kind} {i}" for i in range(LINES) for kind in "OE"]
    user = [line for line in lines if line[:2] in ("O ", "E ")]
    assert reordered_pairs(user, expected) == 0
    assert user == expected
    # gnomon's last line comes after the last line of the program
    assert "Completed after" in lines[-1]
    assert lines.index(expected[-1]) < len(lines) - 1


@pytest.mark.parametrize("mode", ["tee", "fd"])
def test_python_and_descriptor_writes_keep_their_order(program: Path, tmp_path: Path, mode: str) -> None:
    # stdout and stderr go to one file, as with `> log 2>&1`
    storage = tmp_path / "runs"
    log = tmp_path / "log.txt"
    with log.open("wb") as handle:
        proc = subprocess.run(
            gnomon_argv(program, "mixed", 200, storage, "-C", mode),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert proc.returncode == 0, log.read_text()[-2000:]
    expected = [f"{kind} {i}" for i in range(200) for kind in ("print", "fd1", "stderr", "fd2")]
    assert stored(storage).splitlines() == expected
    if mode == "tee":
        assert log.read_text().splitlines() == expected
    else:
        assert log.read_text() == ""


def test_the_last_lines_of_a_long_run_come_before_its_end(program: Path, tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    n = 20000
    with (tmp_path / "log.txt").open("wb") as handle:
        proc = subprocess.run(
            [sys.executable, str(program), "alternate", str(n), "run", "-F", str(storage)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    assert proc.returncode == 0
    lines = stored(storage).splitlines()
    user = [line for line in lines if line[:2] in ("O ", "E ")]
    assert user == [f"{kind} {i}" for i in range(n) for kind in "OE"]
    assert lines[-3:-1] == [f"O {n - 1}", f"E {n - 1}"]
    assert "Completed after" in lines[-1]


@pytest.mark.parametrize("mode", ["tee", "fd"])
def test_what_a_forked_child_prints_is_stored(program: Path, tmp_path: Path, mode: str) -> None:
    storage = tmp_path / "runs"
    log = tmp_path / "log.txt"
    with log.open("wb") as handle:
        proc = subprocess.run(
            gnomon_argv(program, "forked", 20, storage, "-C", mode),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert proc.returncode == 0, log.read_text()[-2000:]
    expected = [f"{who} {i}" for i in range(20) for who in ("parent", "child")]
    assert stored(storage).splitlines() == expected
    assert log.read_text().splitlines() == (expected if mode == "tee" else [])


def test_bytes_written_to_the_stream_buffer_keep_their_place(program: Path, tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    log = tmp_path / "log.txt"
    with log.open("wb") as handle:
        proc = subprocess.run(
            gnomon_argv(program, "raw_bytes", 500, storage),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert proc.returncode == 0, log.read_text()[-2000:]
    expected = [f"{kind} {i}" for i in range(500) for kind in ("bytes", "text")]
    assert stored(storage).splitlines() == expected
    assert log.read_text().splitlines() == expected


@pytest.mark.parametrize("mode", ["tee", "fd", "sys"])
def test_a_stream_the_script_installed_sees_every_write_and_is_stored_once(
    program: Path, tmp_path: Path, mode: str
) -> None:
    storage = tmp_path / "runs"
    log = tmp_path / "log.txt"
    with log.open("wb") as handle:
        proc = subprocess.run(
            gnomon_argv(program, "wrapped", 300, storage, "-C", mode),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert proc.returncode == 0, log.read_text()[-2000:]
    expected = [f"wrapped {i}" for i in range(300)]
    assert stored(storage).splitlines() == expected
    assert log.read_text().splitlines() == (expected if mode != "fd" else [])
