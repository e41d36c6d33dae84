"""Experiment end to end: ex.run, observers, threads, hooks, commands, shortcuts."""

# Config scopes define config by assigning locals that are never read again.

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from gnomon import Experiment, Ingredient
from gnomon.errors import CommandNotFoundError, ConfigError, GnomonError, SignatureError
from gnomon.events import thaw
from gnomon.testing import RecordingObserver


def _experiment(**kwargs) -> Experiment:
    ex = Experiment("e2e", save_git_info=False, **kwargs)

    @ex.config
    def cfg():
        a = 1
        b = a + 1

    return ex


def test_default_name_is_the_callers_file() -> None:
    assert Experiment(save_git_info=False).path == "test_experiment"
    with pytest.raises(ConfigError, match="needs a name"):
        Experiment(interactive=True)


def test_run_records_config_command_and_meta() -> None:
    ex = _experiment()
    observer = RecordingObserver(assign_id="7")
    ex.observers.append(observer)

    @ex.main
    def main(a, b, _run):
        _run.log_scalar("loss", 0.5)
        ex.log_scalar("acc", 0.9)
        ex.info["note"] = "hi"
        return a + b

    run = ex.run(
        config_updates={"a": 3},
        info={"given": 1},
        meta_info={"comment": "c"},
        options={"--beat-interval": 0},
    )
    assert run.result == 7
    assert run.status == "COMPLETED"
    assert run._id == "7"
    assert run.info == {"given": 1, "note": "hi"}
    started = observer.of_kind("started")[0]
    assert thaw(started.config) == {"a": 3, "b": 4, "seed": run.config["seed"]}
    assert started.command == "main"
    meta = thaw(started.meta)
    assert meta["command"] == "main"
    assert meta["config_updates"] == {"a": 3}
    assert meta["comment"] == "c"
    assert thaw(started.experiment)["name"] == "e2e"
    assert set(observer.metrics()) == {"loss", "acc"}
    assert observer.kinds[-1] == "completed"


def test_failure_is_recorded_and_raised() -> None:
    ex = _experiment()
    observer = RecordingObserver()
    ex.observers.append(observer)

    @ex.main
    def main():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        ex.run(options={"--beat-interval": 0})
    assert observer.kinds[-1] == "failed"


def test_two_threads_see_their_own_config() -> None:
    ex = _experiment()
    barrier = threading.Barrier(2, timeout=30)

    @ex.capture
    def read(a, _run):
        return a, _run

    @ex.main
    def main(a):
        barrier.wait()  # both runs are inside main at the same time
        value, run = read()
        barrier.wait()
        return value, a, run is ex.current_run

    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def worker(value: int) -> None:
        try:
            results[value] = ex.run(config_updates={"a": value}).result
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(v,)) for v in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert results == {1: (1, 1, True), 2: (2, 2, True)}


def test_user_threads_fall_back_to_the_running_experiment() -> None:
    ex = _experiment()

    @ex.capture
    def read(a):
        return a

    @ex.main
    def main():
        found = []
        thread = threading.Thread(target=lambda: found.append(read()))
        thread.start()
        thread.join()
        return found

    assert ex.run(config_updates={"a": 42}).result == [42]


def test_pre_and_post_run_hooks() -> None:
    calls = []
    ing = Ingredient("ing")

    @ing.pre_run_hook
    def ing_pre():
        calls.append("ing_pre")

    ex = _experiment(ingredients=[ing])

    @ex.pre_run_hook
    def pre(a):
        calls.append(("pre", a))

    @ex.post_run_hook(prefix="")
    def post(b, _run):
        calls.append(("post", b, _run.result))

    @ex.main
    def main():
        calls.append("main")
        return "done"

    ex.run(config_updates={"a": 5})
    assert calls == ["ing_pre", ("pre", 5), "main", ("post", 6, "done")]


def test_option_hooks_see_and_change_options() -> None:
    ex = _experiment()
    seen = []

    @ex.option_hook
    def hook(options):
        seen.append(options["--force"])
        options["--force"] = True

    @ex.main
    def main():
        return 1

    run = ex.run(config_updates={"unused": 1})
    assert seen == [False]
    assert run.config["unused"] == 1
    with pytest.raises(SignatureError):
        ex.option_hook(lambda opts: None)


def test_queue_only_does_not_call_main() -> None:
    ex = _experiment()
    observer = RecordingObserver()
    ex.observers.append(observer)
    called = []

    @ex.main
    def main():
        called.append(1)

    run = ex.run(options={"--queue": True})
    assert run.status == "QUEUED"
    assert not called
    assert observer.kinds == ["queued"]


def test_commands_unknown_and_missing_main() -> None:
    ex = _experiment()
    with pytest.raises(CommandNotFoundError, match="no main function"):
        ex.run()

    @ex.command
    def train(a):
        return a * 2

    assert ex.run("train").result == 2
    with pytest.raises(CommandNotFoundError, match="Did you mean 'train'"):
        ex.run("trian")


def test_shortcuts_need_a_running_experiment() -> None:
    ex = _experiment()
    for call in (lambda: ex.log_scalar("x", 1), lambda: ex.info, lambda: ex.add_artifact(__file__)):
        with pytest.raises(GnomonError, match="none is running"):
            call()
    assert ex.current_run is None


def test_artifacts_and_resources_through_the_experiment(tmp_path: Path) -> None:
    ex = _experiment()
    observer = RecordingObserver()
    ex.observers.append(observer)
    data = tmp_path / "data.txt"
    data.write_text("hello")

    @ex.main
    def main():
        ex.add_artifact(str(data), name="copy.txt")
        with ex.open_resource(str(data)) as handle:
            return handle.read()

    assert ex.run(options={"--beat-interval": 0}).result == "hello"
    assert {"artifact", "resource"} <= set(observer.kinds)


def test_run_commandline_delegates_to_the_cli() -> None:
    ex = _experiment()

    @ex.main
    def main(a, b):
        return a * b

    run = ex.run_commandline(["prog", "with", "a=3"])
    assert run is not None
    assert run.result == 12


def test_experiment_info_and_manual_sources(tmp_path: Path) -> None:
    ex = _experiment()
    extra = tmp_path / "extra.py"
    extra.write_text("x = 1\n")
    ex.add_source_file(str(extra))
    ex.add_package_dependency("mypkg", "2.0")
    info = ex.get_experiment_info()
    assert info["name"] == "e2e"
    assert info["mainfile"] == os.path.basename(__file__)
    names = [os.path.basename(path) for path, _ in info["sources"]]
    assert os.path.basename(__file__) in names
    assert "extra.py" in names
    assert "mypkg==2.0" in info["dependencies"]
    with pytest.raises(ConfigError, match="does not exist"):
        ex.add_source_file(str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match="Invalid version"):
        ex.add_package_dependency("bad", "not a version")


def test_default_options_and_gathering() -> None:
    ex = _experiment()
    options = ex.get_default_options()
    assert options["--force"] is False
    assert options["--beat-interval"] is None
    names = [name for name, _ in ex.gather_commands()]
    assert names[:4] == ["print_config", "print_dependencies", "save_config", "print_named_configs"]


def test_construction_scans_nothing_and_automain_runs_the_script(
    tmp_path: Path, script_env: dict[str, str]
) -> None:
    script = tmp_path / "exp_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from gnomon import Experiment

            ex = Experiment()
            heavy = ("git", "cpuinfo", "rich")
            print("scanned at construction:", any(m in sys.modules for m in heavy))

            @ex.config
            def cfg():
                a = 2

            @ex.automain
            def main(a, _run):
                print("name", _run.experiment_info["name"], "result", a * 21)
                return a * 21
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), "with", "a=3", "-u"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=script_env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "scanned at construction: False" in done.stdout
    assert "name exp_script result 63" in done.stdout


def test_usage_lists_commands() -> None:
    ex = _experiment()

    @ex.command
    def train():
        """Train the model."""

    usage = ex.get_usage("prog.py")
    assert "prog.py" in usage
    assert "train" in usage
    assert "print_config" in usage
