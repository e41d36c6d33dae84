"""Host info: where a run ran (machine, OS, Python, CPU, GPUs, chosen environment variables).

Gathered once per run and stored with it. Every value is plain JSON. Gathering never
fails a run: a gatherer that raises is reported as a warning and its key left out.
Experiments add their own keys with :func:`host_info_gatherer`::

    @host_info_gatherer("cluster")
    def cluster():
        if "SLURM_CLUSTER_NAME" not in os.environ:
            raise IgnoreHostInfo  # leave the key out
        return os.environ["SLURM_CLUSTER_NAME"]

    ex = Experiment(additional_host_info=[cluster])

Sacred's deprecated ``@host_info_getter`` still works as it did there: it adds the
function to the process-wide :data:`host_info_gatherers` registry, which every run
of every experiment in the process reads (:func:`reset` empties it).
"""

from __future__ import annotations

import os
import platform
import subprocess
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from gnomon import early
from gnomon.errors import ConfigError, DuplicateNameError
from gnomon.records import record
from gnomon.settings import SETTINGS

__all__ = [
    "DEFAULT_KEYS",
    "HostInfoGatherer",
    "IgnoreHostInfo",
    "get_host_info",
    "host_info_gatherer",
    "host_info_gatherers",
    "host_info_getter",
    "reset",
]

DEFAULT_KEYS = ("hostname", "os", "python_version", "cpu", "gpus", "ENV")
NVIDIA_SMI_TIMEOUT = 5.0


class IgnoreHostInfo(Exception):
    """Raised by a gatherer to leave its key out of the host info (e.g. not on a cluster)."""


@record(frozen=True, slots=True)
class HostInfoGatherer:
    """A named function whose return value is stored under ``name`` in the host info."""

    name: str
    func: Callable[[], Any]

    def __call__(self) -> Any:
        """Call the function, so a decorated gatherer can still be used directly."""
        return self.func()


def host_info_gatherer(name: str) -> Callable[[Callable[[], Any]], HostInfoGatherer]:
    """Turn the decorated function into a gatherer for key ``name`` (Sacred's API).

    Pass the result to ``Experiment(additional_host_info=[...])``.
    """
    given: object = name  # checked at run time: ``@host_info_gatherer`` without a name
    if not isinstance(given, str) or not given:
        raise ConfigError(
            f"A host info gatherer needs a non-empty string name, got {given!r}; "
            'write @host_info_gatherer("name").'
        )

    def wrap(func: Callable[[], Any]) -> HostInfoGatherer:
        return HostInfoGatherer(name=name, func=func)

    return wrap


#: Sacred's legacy registry: name -> function, filled by :func:`host_info_getter` and
#: read by every :func:`get_host_info` call in this process.
host_info_gatherers: dict[str, Callable[[], Any]] = {}


def reset() -> None:
    """Empty the :data:`host_info_gatherers` registry (tests call it between runs)."""
    host_info_gatherers.clear()


def host_info_getter(func: Callable[[], Any] | None = None, name: str | None = None) -> Any:
    """Sacred's deprecated decorator: add ``func`` to every run's host info under ``name``.

    As in Sacred it registers the function in the process-wide
    :data:`host_info_gatherers` (``name`` defaults to the function's name), and warns
    with a DeprecationWarning: ``@host_info_gatherer(name)`` with
    ``Experiment(additional_host_info=[...])`` limits a gatherer to one experiment.
    The returned gatherer may be called like the function.
    """
    warnings.warn(
        "host_info_getter is deprecated: use @host_info_gatherer(name) and pass the result to "
        "Experiment(additional_host_info=[...]).",
        DeprecationWarning,
        stacklevel=2,
    )

    def wrap(f: Callable[[], Any]) -> HostInfoGatherer:
        key = name or getattr(f, "__name__", "")
        if not key:
            raise ConfigError(
                f"host_info_getter cannot name {f!r}; write @host_info_getter(name='key')."
            )
        if key in DEFAULT_KEYS:
            raise DuplicateNameError(
                f"Host info getter {f!r} uses the name {key!r}, which gnomon already records "
                f"({', '.join(DEFAULT_KEYS)}). Choose another name."
            )
        host_info_gatherers[key] = f
        return HostInfoGatherer(name=key, func=f)

    return wrap(func) if func is not None else wrap


def _cpu() -> str:
    if SETTINGS.HOST_INFO.INCLUDE_CPU_INFO is False:
        raise IgnoreHostInfo
    try:
        # Reading /proc/cpuinfo takes well under a millisecond; py-cpuinfo over a second.
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if (
                    key.strip() in ("model name", "Model", "cpu model", "Hardware")
                    and value.strip()
                ):
                    return value.strip()
    except OSError:
        pass
    import cpuinfo

    brand = cpuinfo.get_cpu_info().get("brand_raw")
    if not brand:
        raise IgnoreHostInfo
    return str(brand)


def _gpus() -> dict[str, Any]:
    if SETTINGS.HOST_INFO.INCLUDE_GPU_INFO is False:
        raise IgnoreHostInfo
    try:
        # No nvidia-smi on the PATH is an OSError like any failure to start it.
        result = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,persistence_mode,driver_version",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT,
            check=True,
        )
        gpus = []
        driver = None
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            model, memory, persistence, driver = (field.strip() for field in line.split(","))
            gpus.append(
                {
                    "model": model,
                    # "[N/A]" on some boards (MIG, Jetson): unknown, not an error.
                    "total_memory": None if memory.startswith("[") else int(float(memory)),
                    "persistence_mode": persistence.lower() in ("enabled", "1", "true", "on"),
                }
            )
    except (OSError, ValueError, subprocess.SubprocessError):
        raise IgnoreHostInfo from None
    if not gpus:
        raise IgnoreHostInfo
    return {"gpus": gpus, "driver_version": driver}


def _env() -> dict[str, str]:
    return {k: os.environ[k] for k in SETTINGS.HOST_INFO.CAPTURED_ENV if k in os.environ}


def begin_host_facts() -> None:
    """Begin the facts that wait on a child process (``uname -p``, ``nvidia-smi``): see :mod:`gnomon.early`."""
    early.begin("platform", platform.platform)
    early.begin("gpus", _gpus)


_DEFAULT_GATHERERS = (
    HostInfoGatherer("hostname", platform.node),
    HostInfoGatherer("os", lambda: [platform.system(), early.collect("platform", platform.platform)]),
    HostInfoGatherer("python_version", platform.python_version),
    HostInfoGatherer("cpu", _cpu),
    HostInfoGatherer("gpus", lambda: early.collect("gpus", _gpus)),
    HostInfoGatherer("ENV", _env),
)


def _plain(value: Any, name: str) -> Any:
    """Return a custom gatherer's value as plain JSON data (numpy numbers, tuples...)."""
    from gnomon.serialize import encode, normalize_config_value

    return encode(normalize_config_value(value), where=f"host_info[{name!r}]")


def get_host_info(additional: Sequence[HostInfoGatherer] = ()) -> dict[str, Any]:
    """Gather the default keys, the registry's and the ``additional`` gatherers into one plain dict.

    A custom gatherer may not reuse a default key (``ConfigError``). One that raises
    :class:`IgnoreHostInfo` is left out silently; any other error is a warning naming
    it, and its key is left out: host info never stops a run.
    """
    seen: set[str] = set()
    for gatherer in additional:
        if gatherer.name in seen:
            raise DuplicateNameError(
                f"Two host info gatherers are named {gatherer.name!r}; give each its own name."
            )
        seen.add(gatherer.name)
        if gatherer.name in DEFAULT_KEYS:
            raise DuplicateNameError(
                f"Host info gatherer {gatherer.func!r} uses the name {gatherer.name!r}, which "
                f"gnomon already records ({', '.join(DEFAULT_KEYS)}). Choose another name."
            )
    # The legacy registry first, so a gatherer passed to the experiment wins (as in Sacred).
    legacy = [
        HostInfoGatherer(name, func)
        for name, func in list(host_info_gatherers.items())
        if name not in seen and name not in DEFAULT_KEYS
    ]
    info: dict[str, Any] = {}
    custom = len(_DEFAULT_GATHERERS)
    for index, gatherer in enumerate((*_DEFAULT_GATHERERS, *legacy, *additional)):
        try:
            value = gatherer.func()
            info[gatherer.name] = _plain(value, gatherer.name) if index >= custom else value
        except IgnoreHostInfo:
            continue
        except Exception as error:  # noqa: BLE001 - a user's gatherer may raise anything; the run goes on
            warnings.warn(
                f"Host info gatherer {gatherer.name!r} failed and is left out: "
                f"{type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
    return info
