"""Sacred 0.8.7's rules for scripts and config, as gnomon keeps them.

Each test states the Sacred behaviour it pins (checked against Sacred 0.8.7 itself).
"""

from __future__ import annotations

import copy
import logging
import pickle
import warnings
from pathlib import Path

import pytest

import gnomon
import gnomon.host
from gnomon import SETTINGS, Experiment, Ingredient
from gnomon.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    ConfigTypeError,
    DuplicateNameError,
    GnomonError,
    HookSignatureError,
    ReadOnlyConfigError,
    SettingError,
)


@pytest.fixture(autouse=True)
def _empty_host_registry():
    gnomon.host.reset()
    yield
    gnomon.host.reset()


def _experiment(name: str = "parity") -> Experiment:
    return Experiment(name, save_git_info=False)


# ------------------------------------------------------------ with values --


def test_readme_example_message_with_spaces_runs() -> None:
    """``python hello.py with message="Ciao world!"``: the shell passes one argument."""
    ex = _experiment("hello_config")

    @ex.config
    def cfg():
        recipient = "world"
        message = f"Hello {recipient}!"

    @ex.main
    def main(message):
        return message

    run = ex.run_commandline(["hello.py", "with", "message=Ciao world!"])
    assert run is not None
    assert run.result == "Ciao world!"


def test_number_typo_runs_as_a_string_with_a_warning(caplog) -> None:
    ex = _experiment()

    @ex.config
    def cfg():
        lr = 0.1

    @ex.main
    def main(lr):
        return lr

    with caplog.at_level(logging.WARNING, logger="gnomon.config"):
        run = ex.run_commandline(["exp.py", "with", "lr=0.1.2", "-f"])
    assert run is not None
    assert run.result == "0.1.2"
    warned = [r.getMessage() for r in caplog.records if r.name == "gnomon.config"]
    assert len(warned) == 1
    assert "'0.1.2' looks like a number but is not one" in warned[0]


# ------------------------------------------------------------ config scopes --


def test_config_scope_takes_log(caplog) -> None:
    """Sacred's examples/03_hello_config_scope.py: ``def cfg(_log): _log.info(...)``."""
    ex = _experiment("hello_cs")
    ingredient = Ingredient("data")

    @ingredient.config
    def data_cfg(_log):
        size = 3
        _log.warning("data size %d", size)

    ex.ingredients.append(ingredient)

    @ex.config
    def cfg(_log):
        recipient = "world"
        message = f"Hello {recipient}!"
        _log.warning("configured %s", message)

    @ex.main
    def main(_config):
        return dict(_config)

    with caplog.at_level(logging.WARNING):
        run = ex.run(config_updates={"recipient": "you"})
    assert run.result["message"] == "Hello you!"
    assert "_log" not in run.result
    assert "_log" not in run.config["data"]
    messages = {(r.name, r.getMessage()) for r in caplog.records}
    assert ("hello_cs", "configured Hello you!") in messages
    assert ("hello_cs.data", "data size 3") in messages


def test_named_config_reads_an_earlier_named_config() -> None:
    ex = _experiment()

    @ex.config
    def cfg():
        a = 1
        b = a * 10

    @ex.named_config
    def five():
        a = 5

    @ex.named_config
    def double(a):
        a = a * 2

    @ex.main
    def main(a, b):
        return a, b

    assert ex.run(named_configs=["five", "double"]).result == (10, 100)


def test_named_config_reads_the_base_config(caplog) -> None:
    ex = _experiment()

    @ex.config
    def cfg(_log):
        a = 1
        b = a * 10
        _log.warning("base scope ran")

    @ex.named_config
    def double(a):
        a = a * 2

    @ex.main
    def main(a, b):
        return a, b

    with caplog.at_level(logging.WARNING):
        assert ex.run(named_configs=["double"]).result == (2, 20)
    # The extra evaluation that gave 'double' its 'a' logs nothing.
    assert [r.getMessage() for r in caplog.records].count("base scope ran") == 1
    # Explicit updates still win over the named config.
    assert ex.run(config_updates={"a": 7}, named_configs=["double"]).result == (7, 70)


def test_named_config_of_an_ingredient_reads_its_base_config() -> None:
    data = Ingredient("data")

    @data.config
    def data_cfg():
        size = 10

    @data.named_config
    def bigger(size):
        size = size + 1

    ex = Experiment("nc_ing", ingredients=[data], save_git_info=False)

    @ex.main
    def main(_config):
        return _config["data"]["size"]

    assert ex.run(named_configs=["data.bigger"]).result == 11


def test_named_config_parameter_found_nowhere_names_the_choices() -> None:
    ex = _experiment()

    @ex.config
    def cfg():
        a = 1

    @ex.named_config
    def broken(nope):
        a = nope

    @ex.main
    def main(a):
        return a

    with pytest.raises(ConfigError, match=r"takes parameter 'nope'.*available: _log, a"):
        ex.run(named_configs=["broken"])


# ---------------------------------------------------------- nested ingredients --


def test_ingredient_sees_its_sub_ingredients_config() -> None:
    """Sacred: model's captured functions see ``dataset`` and nested ``sub`` in _config."""
    dataset = Ingredient("dataset")

    @dataset.config
    def dataset_cfg():
        size = 10

    sub = Ingredient("model.sub")

    @sub.config
    def sub_cfg():
        k = 3

    model = Ingredient("model", ingredients=[dataset, sub])

    @model.config
    def model_cfg(dataset, sub):
        depth = dataset["size"] * 2 + sub["k"]

    @model.capture
    def build(depth, dataset, _config):
        return depth, dict(dataset), {key: _config[key] for key in _config}

    ex = Experiment("nested", ingredients=[model], save_git_info=False)

    @ex.main
    def main():
        return build()

    depth, seen_dataset, config = ex.run().result
    assert depth == 23
    assert seen_dataset == {"size": 10}
    assert config == {"depth": 23, "sub": {"k": 3}, "dataset": {"size": 10}}


def test_sub_ingredient_view_is_read_only_and_private_when_not() -> None:
    dataset = Ingredient("dataset")

    @dataset.config
    def dataset_cfg():
        sizes = [1, 2]

    model = Ingredient("model", ingredients=[dataset])

    @model.capture
    def grow(_config):
        _config["dataset"]["sizes"].append(3)

    @model.capture
    def grow_copy(dataset):
        dataset["sizes"].append(3)
        return dataset["sizes"]

    ex = Experiment("nested_ro", ingredients=[model], save_git_info=False)

    @ex.main
    def main():
        with pytest.raises(ReadOnlyConfigError, match="read-only in a captured function!"):
            grow()
        return "ok"

    assert ex.run().result == "ok"
    SETTINGS.CONFIG.READ_ONLY_CONFIG = False

    @ex.main
    def main2(_config):
        return grow_copy(), _config["dataset"]["sizes"]

    assert ex.run().result == ([1, 2, 3], [1, 2])


# ---------------------------------------------------------------- current_run --


def test_current_run_stays_after_the_run() -> None:
    ex = _experiment()

    @ex.config
    def cfg():
        a = 1

    @ex.capture
    def read(a=None):
        return a

    @ex.main
    def main(_run):
        _run.info["note"] = "kept"
        return 42

    assert ex.current_run is None
    run = ex.run()
    assert ex.current_run is run
    assert ex.current_run.result == 42
    assert ex.current_run.info == {"note": "kept"}
    assert ex.info == {"note": "kept"}
    assert ex.current_run.host_info["hostname"]
    # After the run, captured functions still get no config, and logging is refused.
    assert read() is None
    with pytest.raises(GnomonError, match="none is running"):
        ex.log_scalar("loss", 1.0)


# ------------------------------------------------------------- error types --


def test_errors_are_the_builtin_types_sacred_raises(tmp_path: Path) -> None:
    ex = _experiment()
    with pytest.raises(ValueError, match="no config given") as empty:
        ex.add_config()
    assert isinstance(empty.value, ConfigError)
    with pytest.raises(ValueError, match="either a dict/file or keyword arguments"):
        ex.add_config({"a": 1}, b=2)
    with pytest.raises(TypeError, match="not int") as wrong_type:
        ex.add_config(42)
    assert isinstance(wrong_type.value, ConfigTypeError)
    with pytest.raises(OSError, match="does not exist") as missing:
        ex.add_config(str(tmp_path / "missing.json"))
    assert isinstance(missing.value, FileNotFoundError)
    assert isinstance(missing.value, ConfigFileNotFoundError)
    assert str(missing.value).startswith("Config file ")
    with pytest.raises(ValueError, match="unknown extension"):
        ex.add_config(str(tmp_path / "config.txt"))
    with pytest.raises(KeyError, match="must take a parameter named 'options'") as hook:
        ex.option_hook(lambda opts: None)
    assert isinstance(hook.value, HookSignatureError)
    assert str(hook.value).startswith("Option hook")  # not quoted as KeyError would

    def bad_hook(config, command_name):
        return {}

    with pytest.raises(ValueError, match="exactly \\(config, command_name, logger\\)"):
        ex.config_hook(bad_hook)
    ex.add_named_config("fast", a=1)
    with pytest.raises(KeyError, match="defined twice") as twice:
        ex.add_named_config("fast", a=2)
    assert isinstance(twice.value, DuplicateNameError)
    with pytest.raises(ValueError, match="does not exist"):
        ex.add_source_file(str(tmp_path / "nope.py"))


def test_read_only_message_starts_with_sacreds_sentence() -> None:
    ex = _experiment()

    @ex.config
    def cfg():
        layers = [1, 2]

    @ex.main
    def main(layers):
        try:
            layers.append(3)
        except ReadOnlyConfigError as error:
            return str(error)

    message = ex.run().result
    assert message.startswith(
        "The configuration is read-only in a captured function! Cannot append to config entry 'layers'."
    )


# ---------------------------------------------------------------- settings --


def test_settings_deep_copy_attribute_and_item_access() -> None:
    clone = copy.deepcopy(SETTINGS)
    clone.CAPTURE_MODE = "no"
    clone["HOST_INFO"]["CAPTURED_ENV"].append("HOME")
    assert SETTINGS.CAPTURE_MODE != "no"
    assert SETTINGS.HOST_INFO.CAPTURED_ENV == []
    assert clone.HOST_INFO["CAPTURED_ENV"] == ["HOME"]
    assert copy.copy(SETTINGS) == SETTINGS
    assert pickle.loads(pickle.dumps(SETTINGS)) == SETTINGS
    assert SETTINGS["CONFIG"]["READ_ONLY_CONFIG"] is SETTINGS.CONFIG.READ_ONLY_CONFIG
    assert "CAPTURE_MODE" in SETTINGS
    assert dict(SETTINGS.COMMAND_LINE) == {"STRICT_PARSING": False, "SHOW_DISABLED_OPTIONS": True}
    assert getattr(SETTINGS, "NO_SUCH", "default") == "default"


def test_unknown_settings_raise_setting_error() -> None:
    with pytest.raises(SettingError, match="Did you mean 'CAPTURE_MODE'"):
        SETTINGS.CAPTUR_MODE = "sys"
    with pytest.raises(KeyError):
        SETTINGS["NO_SUCH"]
    with pytest.raises(AttributeError):
        _ = SETTINGS.CONFIG.NO_SUCH
    with pytest.raises(SettingError, match="Cannot replace the settings group"):
        SETTINGS.CONFIG = {}
    from gnomon.settings import SettingError as exported

    assert exported is SettingError
    assert issubclass(SettingError, GnomonError)


# ---------------------------------------------------------------- host info --


def test_sacred_host_info_module_and_deprecated_getter() -> None:
    from gnomon.host_info import get_host_info, host_info_gatherers, host_info_getter

    with pytest.warns(DeprecationWarning, match="host_info_getter is deprecated"):

        @host_info_getter
        def rack():
            return "r12"

    assert host_info_gatherers == {"rack": rack.func}
    assert get_host_info()["rack"] == "r12"
    assert rack() == "r12"

    ex = _experiment()

    @ex.main
    def main(_run):
        return _run.host_info["rack"]

    assert ex.run().result == "r12"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(KeyError, match="'hostname'"):
            host_info_getter(lambda: "x", name="hostname")
    assert gnomon.host_info_getter is host_info_getter


# ------------------------------------------------------ sources, dependencies --


def test_sources_and_dependencies_compare_as_sacreds(tmp_path: Path) -> None:
    source = tmp_path / "model.py"
    source.write_text("x = 1\n")
    ex = _experiment()
    ex.add_source_file(str(source))
    ex.add_source_file(str(tmp_path / "." / "model.py"))
    assert len(ex.sources) == 1
    assert str(source.resolve()) in ex.sources
    (entry,) = ex.sources
    assert entry == str(source.resolve())
    assert entry.filename == str(source.resolve())
    assert len(entry.digest) == 64

    ex.add_package_dependency("numpy", "1.26.0")
    ex.add_package_dependency("numpy", "2.0.0")
    ex.add_package_dependency("attrs", "23.1")
    assert len(ex.dependencies) == 2
    assert sorted(d.name for d in ex.dependencies) == ["attrs", "numpy"]
    (numpy,) = (d for d in ex.dependencies if d.name == "numpy")
    assert numpy.version == "2.0.0"
    assert numpy.to_json() == "numpy==2.0.0"
    assert [d.name for d in sorted(ex.dependencies)] == ["attrs", "numpy"]
    info = ex.get_experiment_info()
    assert "numpy==2.0.0" in info["dependencies"]
