"""The facts a run records at start stay what they were when GitPython gathered them.

Git facts are read from ``.git`` and one ``git status`` (gnomon.git_state). Each case
builds a scratch repository and compares what gnomon records with what GitPython,
which gnomon used before, reports for the same working tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gnomon.provenance import get_git_info, redact_url

git_module = pytest.importorskip("git")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def gitpython_facts(root: Path) -> dict[str, Any]:
    """What gnomon recorded through GitPython (its former implementation, verbatim)."""
    with git_module.Repo(root) as repo:
        try:
            commit: str | None = repo.head.commit.hexsha
        except ValueError:
            commit = None
        remotes = list(repo.remotes)
        chosen = next((r for r in remotes if r.name == "origin"), remotes[0] if remotes else None)
        url = redact_url(chosen.url) if chosen is not None else f"git:/{repo.working_dir}"
        return {"url": url, "commit": commit, "dirty": bool(repo.is_dirty())}


def committed(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_text("A = 1\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "m.py").write_text("M = 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    return root


def with_remote(root: Path) -> None:
    git(root, "remote", "add", "origin", "https://alice:s3cret@example.com/org/repo.git")


def dirty_file(root: Path) -> None:
    with_remote(root)
    (root / "a.py").write_text("A = 2\n")


def staged_only(root: Path) -> None:
    (root / "b.py").write_text("B = 1\n")
    git(root, "add", "b.py")


def staged_then_reverted(root: Path) -> None:
    (root / "a.py").write_text("A = 2\n")
    git(root, "add", "a.py")
    (root / "a.py").write_text("A = 1\n")


def untracked_only(root: Path) -> None:
    (root / "new.py").write_text("")


def detached_head(root: Path) -> None:
    with_remote(root)
    (root / "a.py").write_text("A = 3\n")
    git(root, "commit", "-q", "-am", "two")
    git(root, "checkout", "-q", "--detach", "HEAD~1")


def packed_refs(root: Path) -> None:
    with_remote(root)
    git(root, "commit", "-q", "--allow-empty", "-m", "two")
    git(root, "pack-refs", "--all")
    assert not (root / ".git" / "refs" / "heads" / "main").exists()


def packed_then_loose(root: Path) -> None:
    git(root, "pack-refs", "--all")
    git(root, "commit", "-q", "--allow-empty", "-m", "newer than the packed ref")


def other_remotes(root: Path) -> None:
    git(root, "remote", "add", "upstream", "git@github.com:up/repo.git")
    git(root, "remote", "add", "fork", "https://token@example.com/fork.git")


def origin_not_first(root: Path) -> None:
    git(root, "remote", "add", "upstream", "git@github.com:up/repo.git")
    git(root, "remote", "add", "origin", "ssh://git:pw@host:2222/o/r.git")


def quoted_remote_url(root: Path) -> None:
    with open(root / ".git" / "config", "a", encoding="utf-8") as f:
        f.write('[Remote "origin"]\n\turl = "https://example.com/a b.git" ; a comment\n')


def on_a_branch(root: Path) -> None:
    git(root, "checkout", "-q", "-b", "feature/x")
    git(root, "commit", "-q", "--allow-empty", "-m", "on the branch")


CASES: dict[str, Callable[[Path], None]] = {
    "clean": lambda root: None,
    "remote": with_remote,
    "dirty_file": dirty_file,
    "staged_only": staged_only,
    "staged_then_reverted": staged_then_reverted,
    "untracked_only": untracked_only,
    "detached_head": detached_head,
    "packed_refs": packed_refs,
    "packed_then_loose": packed_then_loose,
    "other_remotes": other_remotes,
    "origin_not_first": origin_not_first,
    "quoted_remote_url": quoted_remote_url,
    "on_a_branch": on_a_branch,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_git_facts_match_gitpython(case: str, tmp_path: Path) -> None:
    root = committed(tmp_path / "repo")
    CASES[case](root)
    expected = gitpython_facts(root)
    assert get_git_info([str(root / "pkg" / "m.py"), str(root / "a.py")]) == [expected]
    assert "s3cret" not in json.dumps(expected)


def test_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_text("")
    [facts] = get_git_info([str(root / "a.py")])
    assert facts == gitpython_facts(root) == {"url": f"git:/{root.resolve()}", "commit": None, "dirty": False}
    git(root, "add", "a.py")
    assert get_git_info([str(root / "a.py")]) == [gitpython_facts(root)]
    assert get_git_info([str(root / "a.py")])[0]["dirty"] is True


def test_linked_worktree(tmp_path: Path) -> None:
    main = committed(tmp_path / "main")
    with_remote(main)
    git(main, "branch", "feature")
    worktree = tmp_path / "wt"
    git(main, "worktree", "add", "-q", str(worktree), "feature")
    git(worktree, "commit", "-q", "--allow-empty", "-m", "in the worktree")
    assert (worktree / ".git").is_file()
    assert get_git_info([str(worktree / "a.py")]) == [gitpython_facts(worktree)]
    (worktree / "a.py").write_text("changed\n")
    [facts] = get_git_info([str(worktree / "a.py")])
    assert facts == gitpython_facts(worktree)
    assert facts["dirty"] is True
    assert facts["commit"] == git(worktree, "rev-parse", "HEAD") != git(main, "rev-parse", "HEAD")


def test_refused_repository_records_nothing_and_warns(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo")
    (root / ".git" / "index").write_bytes(b"not an index")
    with pytest.warns(RuntimeWarning, match="Git information for .* is not recorded"):
        assert get_git_info([str(root / "a.py")]) == []


HELLO = """\
import sys
from gnomon import Experiment

ex = Experiment("hello")


@ex.config
def config():
    recipient = "world"


@ex.automain
def main(recipient):
    print("git imported:", "git" in sys.modules)
"""


def test_a_run_records_the_same_facts_without_importing_gitpython(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo")
    (root / "hello.py").write_text(HELLO)
    git(root, "add", "hello.py")
    git(root, "commit", "-q", "-m", "hello")
    detached_head(root)
    (root / "hello.py").write_text(HELLO + "# edited\n")  # dirty
    storage = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "hello.py", "-F", str(storage)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads((storage / "1" / "run.json").read_text())
    assert "git imported: False" in (storage / "1" / "cout.txt").read_text().splitlines()
    experiment = run["experiment"]
    assert experiment["repositories"] == [gitpython_facts(root)]
    assert experiment["repositories"][0]["dirty"] is True
    assert experiment["repositories"][0]["url"] == "https://example.com/org/repo.git"
    assert experiment["mainfile"] == "hello.py"
    assert [name for name, _ in experiment["sources"]] == ["hello.py"]
    assert any(d.startswith("gnomon==") for d in experiment["dependencies"])
    assert set(run["host"]) >= {"hostname", "os", "python_version", "cpu"}


def test_submodule_changes_count_as_gitpython_counted_them(tmp_path: Path) -> None:
    sub = committed(tmp_path / "sub")
    top = committed(tmp_path / "top")
    git(top, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(top, "commit", "-q", "-m", "with a submodule")
    (top / "sub" / "untracked.py").write_text("")
    assert get_git_info([str(top / "a.py")]) == [gitpython_facts(top)]
    assert get_git_info([str(top / "a.py")])[0]["dirty"] is False
    (top / "sub" / "a.py").write_text("changed\n")
    assert get_git_info([str(top / "a.py")]) == [gitpython_facts(top)]
    assert get_git_info([str(top / "a.py")])[0]["dirty"] is True
    assert get_git_info([str(top / "sub" / "a.py")]) == [gitpython_facts(top / "sub")]


def test_without_a_git_executable_nothing_is_recorded_and_a_warning_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = committed(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    with pytest.warns(RuntimeWarning, match="git cannot be run"):
        assert get_git_info([str(root / "a.py")]) == []


def test_an_empty_dot_git_folder_is_not_taken_for_the_repository_above(tmp_path: Path) -> None:
    outer = committed(tmp_path / "outer")
    inner = outer / "inner"
    (inner / ".git").mkdir(parents=True)
    (inner / "x.py").write_text("")
    with pytest.warns(RuntimeWarning, match="is not recorded"):
        assert get_git_info([str(inner / "x.py")]) == []
