"""Captured functions: config injection, special arguments, errors, read-only config."""

from __future__ import annotations

import logging
import random

import pytest

from gnomon import Experiment
from gnomon.errors import MissingConfigError, ReadOnlyConfigError, SignatureError
from gnomon.settings import SETTINGS


def _experiment() -> Experiment:
    ex = Experiment("captured", save_git_info=False)
    ex.add_config(a=1, b=2, opt={"lr": 0.1, "sched": {"gamma": 0.5}}, lst=[1, 2])
    return ex


def _run_with(ex: Experiment, body, **kwargs):
    """Run ``body()`` as the main function of ``ex`` and return its result."""

    @ex.main
    def main():
        return body()

    return ex.run(**kwargs).result


def test_config_values_fill_missing_arguments_and_beat_defaults() -> None:
    ex = _experiment()

    @ex.capture
    def f(a, b=100, c=3):
        return a, b, c

    assert _run_with(ex, f) == (1, 2, 3)
    assert _run_with(ex, lambda: f(10)) == (10, 2, 3)
    assert _run_with(ex, lambda: f(b=20, c=30)) == (1, 20, 30)


def test_prefix_reads_a_sub_dict() -> None:
    ex = _experiment()

    @ex.capture(prefix="opt")
    def opt(lr, _config):
        return lr, dict(_config)

    @ex.capture(prefix="opt.sched")
    def sched(gamma):
        return gamma

    @ex.capture(prefix="missing")
    def nothing(x=5, _config=None):
        return x, dict(_config)

    assert _run_with(ex, lambda: (opt(), sched(), nothing())) == (
        (0.1, {"lr": 0.1, "sched": {"gamma": 0.5}}),
        0.5,
        (5, {}),
    )


def test_special_arguments() -> None:
    ex = _experiment()

    @ex.capture
    def special(_config, _run, _log, _seed, _rnd):
        return _config, _run, _log, _seed, _rnd

    config, run, log, seed, rnd = _run_with(ex, special)
    assert config["a"] == 1
    assert config["opt"]["lr"] == 0.1
    assert run is ex._last_run
    assert isinstance(log, logging.Logger)
    assert log.name == "special"
    assert isinstance(seed, int)
    assert 1 <= seed < 10**9
    np = pytest.importorskip("numpy")
    assert isinstance(rnd, np.random.Generator)


def test_legacy_numpy_api_gives_random_state() -> None:
    np = pytest.importorskip("numpy")
    SETTINGS.CONFIG.NUMPY_RANDOM_LEGACY_API = True
    ex = _experiment()

    @ex.capture
    def f(_rnd):
        return _rnd

    assert isinstance(_run_with(ex, f), np.random.RandomState)


def test_missing_values_are_listed() -> None:
    ex = _experiment()

    @ex.capture
    def f(a, x, y, z=1):
        return a

    with pytest.raises(
        MissingConfigError, match=r"f\(\) is missing value\(s\) for 'x', 'y'"
    ) as info:
        _run_with(ex, f)
    assert info.value.missing_configs == ("x", "y")
    with pytest.raises(MissingConfigError, match="No run is active"):
        f()


def test_bad_arguments_raise_signature_error() -> None:
    ex = _experiment()

    @ex.capture
    def f(a, b):
        return a + b

    with pytest.raises(
        SignatureError, match=r"unexpected keyword argument 'bb'\. Did you mean 'b'"
    ):
        f(1, bb=2)
    with pytest.raises(SignatureError, match="multiple values for argument 'a'"):
        f(1, a=2)
    with pytest.raises(SignatureError, match="takes 2 positional"):
        f(1, 2, 3)


def test_outside_a_run_explicit_arguments_work() -> None:
    ex = _experiment()

    @ex.capture
    def f(a, _run, _seed, _config):
        return a, _run, isinstance(_seed, int), dict(_config)

    assert f(5) == (5, None, True, {})


def test_varargs_and_kwargs_pass_through() -> None:
    ex = _experiment()

    @ex.capture
    def f(a, *rest, b, **extra):
        return a, rest, b, extra

    assert _run_with(ex, lambda: f(0, 7, 8, z=1)) == (0, (7, 8), 2, {"z": 1})


def test_bound_methods() -> None:
    ex = _experiment()

    class Model:
        def __init__(self) -> None:
            self.scale = 10

        @ex.capture
        def forward(self, a, b=0):
            return self.scale * a + b

    model = Model()
    assert _run_with(ex, model.forward) == 12
    assert _run_with(ex, lambda: model.forward(3)) == 32


def test_config_is_read_only_including_list_iadd() -> None:
    ex = _experiment()

    @ex.capture
    def set_item(opt):
        opt["lr"] = 1

    @ex.capture
    def extend(lst):
        lst += [3]

    @ex.capture
    def via_config(_config):
        _config["a"] = 5

    for function in (set_item, extend, via_config):
        with pytest.raises(ReadOnlyConfigError):
            _run_with(ex, function)

    @ex.capture
    def read(opt, lst):
        return opt, lst

    opt, lst = _run_with(ex, read)
    assert opt == {"lr": 0.1, "sched": {"gamma": 0.5}}
    assert lst == [1, 2]


def test_nothing_leaks_back_into_the_run_config() -> None:
    SETTINGS.CONFIG.READ_ONLY_CONFIG = False
    ex = _experiment()

    @ex.capture
    def change(opt, lst):
        opt["lr"] = 99
        lst.append(3)
        return opt["lr"]

    @ex.capture
    def again(opt, lst):
        return opt["lr"], lst

    results = _run_with(ex, lambda: (change(), again()))
    assert results == (99, (0.1, [1, 2]))
    assert ex._last_run.config["opt"]["lr"] == 0.1


def test_capturing_twice_returns_the_same_function() -> None:
    ex = _experiment()

    def f(a):
        return a

    assert ex.capture(f) is ex.capture(f)
    command = ex.command(ex.capture(f))
    assert command in ex.captured_functions
    assert ex.captured_functions.count(command) == 1


def test_global_random_is_untouched_by_seed_injection() -> None:
    ex = _experiment()

    @ex.capture
    def f(_seed):
        return _seed

    random.seed(3)
    expected = random.random()
    random.seed(3)
    f()
    assert random.random() == expected


def test_missing_value_suggests_a_close_config_key() -> None:
    ex = _experiment()

    @ex.capture
    def f(opts):
        return opts

    with pytest.raises(MissingConfigError, match="did you mean that instead of 'opts'"):
        _run_with(ex, f)
