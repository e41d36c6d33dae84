"""Seeding: same root seed, same seeds; per-function streams independent of registration order."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest

from gnomon import Experiment, Ingredient
from gnomon.randomness import (
    SEED_RANGE,
    SeedStream,
    create_rnd,
    derive_seed,
    new_seed,
    set_global_seed,
)


def _experiment(order: str = "fg") -> Experiment:
    ex = Experiment("seeds", save_git_info=False)

    def f(_seed):
        return _seed

    def g(_seed, _rnd):
        return _seed, float(_rnd.random())

    functions = {"f": f, "g": g}
    captured = {name: ex.capture(functions[name]) for name in order}

    @ex.main
    def main(_seed):
        return {
            "main": _seed,
            "f": [captured["f"]() for _ in range(3)],
            "g": [captured["g"]() for _ in range(2)],
            "random": random.random(),
        }

    return ex


def test_same_seed_gives_same_seed_sequences_and_global_random() -> None:
    first = _experiment().run(config_updates={"seed": 1234}).result
    second = _experiment().run(config_updates={"seed": 1234}).result
    assert first == second
    assert len(set(first["f"])) == 3
    random.seed(1234)
    assert first["random"] == random.random()
    other = _experiment().run(config_updates={"seed": 4321}).result
    assert other["f"] != first["f"]
    assert other["random"] != first["random"]


def test_registration_order_does_not_change_seeds() -> None:
    assert (
        _experiment("fg").run(config_updates={"seed": 5}).result
        == _experiment("gf").run(config_updates={"seed": 5}).result
    )


def test_functions_get_different_streams() -> None:
    result = _experiment().run(config_updates={"seed": 9}).result
    assert result["f"][0] != result["g"][0][0]


def test_ingredient_seed_derived_from_root_unless_set() -> None:
    def build() -> Experiment:
        ing = Ingredient("part")

        @ing.capture
        def draw(_seed):
            return _seed

        ex = Experiment("hier", ingredients=[ing], save_git_info=False)

        @ex.main
        def main():
            return draw()

        return ex

    a = build().run(config_updates={"seed": 1}).result
    assert a == build().run(config_updates={"seed": 1}).result
    assert a != build().run(config_updates={"seed": 2}).result
    own = build().run(config_updates={"seed": 1, "part.seed": 77}).result
    assert own == build().run(config_updates={"seed": 2, "part.seed": 77}).result != a


def test_numpy_global_seeded_when_imported() -> None:
    np = pytest.importorskip("numpy")
    ex = Experiment("np", save_git_info=False)

    @ex.main
    def main():
        return float(np.random.random())

    value = ex.run(config_updates={"seed": 11}).result
    np.random.seed(11)
    assert value == float(np.random.random())


def test_seeding_never_imports_numpy_or_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from gnomon.randomness import set_global_seed
        set_global_seed(3)
        print(sorted(m for m in ("numpy", "torch", "tensorflow") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_helpers() -> None:
    assert SEED_RANGE[0] <= new_seed() < SEED_RANGE[1]
    assert derive_seed(1, "a") == derive_seed(1, "a") != derive_seed(1, "b")
    stream_a, stream_b = SeedStream(5), SeedStream(5)
    assert [stream_a.next() for _ in range(3)] == [stream_b.next() for _ in range(3)]
    first, second = create_rnd(3), create_rnd(3)
    assert first.random() == second.random()
    set_global_seed(8)
    value = random.random()
    random.seed(8)
    assert random.random() == value
