r"""Progress-bar folding: ``\r`` and ``\b`` applied the way a terminal shows them.

A progress bar that redraws itself ten thousand times is stored as its final line.
"""

from __future__ import annotations

import re

__all__ = ["OutputFolder", "apply_backspaces_and_linefeeds"]

_CONTROL = re.compile(r"([\r\b])")


class OutputFolder:
    r"""Folds carriage returns and backspaces as text arrives, like a terminal would.

    The current line is a row of cells with a cursor: ``\r`` moves the cursor to the
    start of the line, ``\b`` moves it one cell left, other characters overwrite the
    cell under the cursor (or extend the line) and ``\n`` ends the line. This is what a
    terminal displays, and what Sacred's ``apply_backspaces_and_linefeeds`` computes.
    Only complete lines are committed; the unfinished line stays pending because a
    later ``\r`` may still redraw it. Chunk boundaries never change the result.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []  # the pending line, in pieces (joined lazily)
        self._length = 0
        self._cursor = 0

    @property
    def pending(self) -> str:
        """The folded, not yet committed current line (for live display)."""
        return self._line()

    def feed(self, text: str) -> str:
        r"""Add ``text``; return the newly completed folded lines, each ending in ``\n``."""
        if not text:
            return ""
        if "\r" not in text and "\b" not in text and self._cursor == self._length:
            # The common case: plain text appended at the end of the line.
            newline = text.rfind("\n")
            if newline < 0:
                self._append(text)
                return ""
            done = self._line() + text[: newline + 1]
            self._reset(text[newline + 1 :])
            return done
        pieces = text.split("\n")
        out: list[str] = []
        for piece in pieces[:-1]:
            self._apply(piece)
            out.append(self._line())
            out.append("\n")
            self._reset("")
        self._apply(pieces[-1])
        return "".join(out)

    def finish(self) -> str:
        """Return the folded pending line (maybe ``''``) and start a fresh one."""
        line = self._line()
        self._reset("")
        return line

    def _line(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _reset(self, text: str) -> None:
        self._parts = [text] if text else []
        self._length = self._cursor = len(text)

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)
        self._cursor = self._length

    def _apply(self, piece: str) -> None:
        r"""Apply a piece of text without ``\n`` to the current line."""
        if "\b" not in piece:
            redraws = piece.split("\r")
            self._write(redraws[0])
            if len(redraws) > 1:
                self._redraw(redraws[1:])
            return
        for token in _CONTROL.split(piece):
            if token == "\r":
                self._cursor = 0
            elif token == "\b":
                self._cursor = max(0, self._cursor - 1)
            elif token:
                self._write(token)

    def _redraw(self, layers: list[str]) -> None:
        r"""Apply texts each written from the start of the line, as ``\r`` redraws do.

        A cell shows the latest layer long enough to reach it, so a progress bar
        redrawn a thousand times costs a thousand length checks, not string copies.
        """
        line = self._line()
        result = layers[-1]
        covered = len(result)
        for layer in reversed(layers[:-1]):
            if len(layer) > covered:
                result += layer[covered:]
                covered = len(layer)
        if len(line) > covered:
            result += line[covered:]
        self._parts = [result] if result else []
        self._length = len(result)
        self._cursor = len(layers[-1])

    def _write(self, text: str) -> None:
        if not text:
            return
        if self._cursor == self._length:
            self._append(text)
            return
        line = self._line()
        end = self._cursor + len(text)
        line = line[: self._cursor] + text + line[end:]
        self._parts = [line]
        self._length = len(line)
        self._cursor = end


def apply_backspaces_and_linefeeds(text: str) -> str:
    r"""Fold ``\r`` and ``\b`` in a whole text (Sacred's ``captured_out_filter`` helper).

    Kept so scripts that set ``ex.captured_out_filter = apply_backspaces_and_linefeeds``
    keep working; gnomon already folds captured output as it arrives.
    """
    folder = OutputFolder()
    return folder.feed(text) + folder.finish()
