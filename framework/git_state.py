"""The git facts of a working tree, read from ``.git`` with one ``git`` process.

A run records, for each repository holding its sources, the remote URL, the commit
checked out and whether the tree has uncommitted changes. The first two are plain
files (``HEAD``, loose refs, ``packed-refs``, ``config``) and are read directly;
only the dirty state needs git itself, asked once with
``git status --porcelain --untracked-files=no``. GitPython answered the same
questions with its ~50 ms import and three git processes, a third of a hello-world
run's start-up.

What is recorded is what GitPython reported: the ``origin`` remote's URL (else the
first remote of the repository's config, else ``git:/<working tree>``), the commit
HEAD resolves to (``None`` before the first commit), and dirty when the index or a
tracked file differs from HEAD (untracked files do not count).
"""

from __future__ import annotations

import os
import subprocess

__all__ = ["GitStateError", "git_dirs", "head_commit", "is_dirty", "remote_url"]

_MAX_SYMREF_DEPTH = 5


class GitStateError(Exception):
    """Git could not tell the state of a working tree (git missing, repository refused)."""


def git_dirs(root: str) -> tuple[str, str] | None:
    """``(git dir, common dir)`` of the working tree at ``root``; None if ``.git`` is unusable.

    ``.git`` is a folder, or, for linked worktrees and submodules, a file naming the
    git dir (``gitdir: <path>``). Refs shared by all worktrees, ``packed-refs`` and
    ``config`` live in the common dir (the git dir's ``commondir`` file names it).
    """
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        git_dir = dot_git
    else:
        try:
            with open(dot_git, encoding="utf-8") as f:
                first = f.readline().strip()
        except (OSError, UnicodeDecodeError):
            return None
        if not first.startswith("gitdir:"):
            return None
        git_dir = os.path.normpath(os.path.join(root, first[len("gitdir:") :].strip()))
    if not os.path.isfile(os.path.join(git_dir, "HEAD")):
        return None  # not a repository (git would look further up, at another one)
    common_dir = git_dir
    common = _read_line(os.path.join(git_dir, "commondir"))
    if common:
        common_dir = os.path.normpath(os.path.join(git_dir, common))
    return git_dir, common_dir


def _read_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _is_object_id(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _packed_ref(common_dir: str, refname: str) -> str | None:
    try:
        with open(os.path.join(common_dir, "packed-refs"), encoding="utf-8") as f:
            for line in f:
                if line.startswith(("#", "^")):
                    continue
                object_id, _, name = line.rstrip("\n").partition(" ")
                if name == refname:
                    return object_id
    except (OSError, UnicodeDecodeError):
        pass
    return None


def head_commit(git_dir: str, common_dir: str) -> str | None:
    """The commit HEAD resolves to; None on an unborn branch (no commit yet).

    Follows symbolic refs through loose ref files (the worktree's own git dir
    first, for per-worktree refs) and ``packed-refs``. A ref store git keeps in
    another format (reftable) is asked of ``git rev-parse``.
    """
    content = _read_line(os.path.join(git_dir, "HEAD"))
    for _ in range(_MAX_SYMREF_DEPTH):
        if content is None:
            break
        if _is_object_id(content):
            return content
        if not content.startswith("ref:"):
            break
        refname = content[len("ref:") :].strip()
        content = _read_line(os.path.join(git_dir, refname))
        if content is None and common_dir != git_dir:
            content = _read_line(os.path.join(common_dir, refname))
        if content is None:
            content = _packed_ref(common_dir, refname)
            if content is None:
                break
    if os.path.isdir(os.path.join(common_dir, "reftable")):
        return _rev_parse_head(git_dir)
    return None


def _rev_parse_head(git_dir: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "--git-dir", git_dir, "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return None
    return out if _is_object_id(out) else None


def remote_url(common_dir: str, working_dir: str) -> str:
    """The ``origin`` remote's URL, else the first remote's, else ``git:/<working_dir>``."""
    remotes = _remote_urls(os.path.join(common_dir, "config"))
    url = remotes.get("origin") or next(iter(remotes.values()), None)
    return url if url else f"git:/{working_dir}"


def _remote_urls(config_file: str) -> dict[str, str]:
    """``{remote name: url}`` from ``[remote "name"]`` sections, in the file's order.

    Section names are case-insensitive and subsection names (the remote's name) are
    not, as in git; a section given twice is one section, and the last ``url`` of a
    remote wins, as GitPython read it.
    """
    try:
        with open(config_file, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    urls: dict[str, str] = {}
    remote: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("["):
            remote = _remote_section(line)
            if remote is not None:
                urls.setdefault(remote, "")
            continue
        if remote is None or not line or line[0] in "#;":
            continue
        key, sep, raw = line.partition("=")
        if not sep or key.strip().lower() != "url":
            continue
        while raw.endswith("\\") and not raw.endswith("\\\\") and i < len(lines):
            raw = raw[:-1] + lines[i]  # a value continued on the next line
            i += 1
        urls[remote] = _config_value(raw)
    return {name: url for name, url in urls.items() if url}


def _remote_section(header: str) -> str | None:
    """The remote's name in a ``[remote "name"]`` header; None for any other section."""
    inner = header[1 : header.rfind("]")] if "]" in header else header[1:]
    section, _, rest = inner.strip().partition(" ")
    if section.lower() != "remote":
        return None
    rest = rest.strip()
    if len(rest) >= 2 and rest[0] == '"' and rest[-1] == '"':
        return rest[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return None


def _config_value(raw: str) -> str:
    """A git config value: quotes removed, escapes decoded, a trailing comment dropped."""
    out: list[str] = []
    quoted = False
    pending_space = ""
    text = raw.strip()
    i = 0
    while i < len(text):
        c = text[i]
        i += 1
        if c == '"':
            quoted = not quoted
            out.append(pending_space)
            pending_space = ""
        elif c == "\\" and i < len(text):
            escaped = text[i]
            i += 1
            out.append(pending_space + {"n": "\n", "t": "\t", "b": "\b"}.get(escaped, escaped))
            pending_space = ""
        elif not quoted and c in "#;":
            break
        elif not quoted and c.isspace():
            pending_space += c
        else:
            out.append(pending_space + c)
            pending_space = ""
    return "".join(out)


def is_dirty(working_dir: str, git_dir: str) -> bool:
    """Whether the index or a tracked file differs from HEAD (untracked files do not count).

    One ``git status`` process, pointed at exactly this repository (git would
    otherwise search upwards); ``--no-optional-locks`` keeps it from rewriting the
    index, so a run never contends with the user's own git commands.
    """
    try:
        result = subprocess.run(
            [
                "git",
                "--git-dir",
                git_dir,
                "--work-tree",
                working_dir,
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
            cwd=working_dir,
            capture_output=True,
            check=False,
        )
    except OSError as error:
        raise GitStateError(f"git cannot be run ({error})") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitStateError(message[-1] if message else f"git status failed ({result.returncode})")
    return bool(result.stdout.strip())
