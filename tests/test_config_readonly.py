"""Read-only config containers block every mutation and share nothing with the source."""

from __future__ import annotations

import copy
import pickle

import pytest

from gnomon.config.readonly import ReadOnlyDict, ReadOnlyList, make_read_only, plain
from gnomon.errors import ReadOnlyConfigError


def _config() -> dict:
    return {"a": 1, "opt": {"lr": 0.1, "layers": [1, 2]}, "lst": [1, {"x": 1}]}


DICT_MUTATIONS = [
    lambda d: d.__setitem__("a", 2),
    lambda d: d.__delitem__("a"),
    lambda d: d.clear(),
    lambda d: d.pop("a"),
    lambda d: d.popitem(),
    lambda d: d.setdefault("z", 1),
    lambda d: d.update(a=3),
    lambda d: d.__ior__({"a": 3}),
]

LIST_MUTATIONS = [
    lambda lst: lst.__setitem__(0, 2),
    lambda lst: lst.__delitem__(0),
    lambda lst: lst.append(3),
    lambda lst: lst.extend([3]),
    lambda lst: lst.insert(0, 3),
    lambda lst: lst.pop(),
    lambda lst: lst.remove(1),
    lambda lst: lst.clear(),
    lambda lst: lst.sort(),
    lambda lst: lst.reverse(),
    lambda lst: lst.__iadd__([3]),
    lambda lst: lst.__imul__(2),
]


@pytest.mark.parametrize("mutate", DICT_MUTATIONS)
def test_dict_mutations_raise(mutate) -> None:
    source = _config()
    view = make_read_only(source)
    with pytest.raises(ReadOnlyConfigError, match="read-only"):
        mutate(view)
    with pytest.raises(ReadOnlyConfigError):
        mutate(view["opt"])
    assert view == _config() == source


@pytest.mark.parametrize("mutate", LIST_MUTATIONS)
def test_list_mutations_raise(mutate) -> None:
    view = make_read_only(_config())
    with pytest.raises(ReadOnlyConfigError):
        mutate(view["lst"])
    with pytest.raises(ReadOnlyConfigError):
        mutate(view["opt"]["layers"])
    assert view == _config()


def test_augmented_assignment_on_list_is_blocked() -> None:
    view = make_read_only(_config())
    layers = view["opt"]["layers"]
    with pytest.raises(ReadOnlyConfigError, match=r"opt\.layers"):
        layers += [3]
    with pytest.raises(ReadOnlyConfigError):
        view["lst"] *= 2
    assert view["opt"]["layers"] == [1, 2]


def test_error_names_the_entry() -> None:
    view = make_read_only(_config())
    with pytest.raises(ReadOnlyConfigError, match=r"'opt\.lr'"):
        view["opt"]["lr"] = 1


def test_values_are_copies_and_plain_undoes() -> None:
    source = _config()
    view = make_read_only(source)
    assert isinstance(view, ReadOnlyDict)
    assert isinstance(view["lst"], ReadOnlyList)
    assert view["opt"] is not source["opt"]
    mutable = plain(view)
    mutable["opt"]["layers"].append(3)
    assert view["opt"]["layers"] == [1, 2]
    assert type(mutable) is dict
    assert view.copy() == _config()
    assert type(view.copy()) is dict


def test_copy_and_pickle_keep_read_only() -> None:
    view = make_read_only(_config())
    for clone in (copy.deepcopy(view), pickle.loads(pickle.dumps(view))):
        assert clone == view
        with pytest.raises(ReadOnlyConfigError):
            clone["a"] = 2
