"""Host info (gnomon.host): default keys, settings, nvidia-smi, custom gatherers."""

from __future__ import annotations

import json
import os
import platform
import shutil
import stat
from pathlib import Path

import pytest

import gnomon.host as host
from gnomon.errors import ConfigError
from gnomon.host import IgnoreHostInfo, get_host_info, host_info_gatherer, host_info_getter
from gnomon.settings import SETTINGS, reset


@pytest.fixture(autouse=True)
def fresh_settings() -> object:
    reset()
    yield
    reset()


def fake_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Put an executable ``nvidia-smi`` shell script first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


CSV = """\
if [ "$1" != "--query-gpu=name,memory.total,persistence_mode,driver_version" ] || \
   [ "$2" != "--format=csv,noheader,nounits" ]; then exit 2; fi
echo "NVIDIA H200, 143771, Enabled, 570.86.15"
echo "NVIDIA A100-SXM4-40GB, 40960, Disabled, 570.86.15"
"""


def test_default_keys_are_plain_json() -> None:
    info = get_host_info()
    assert info["hostname"] == platform.node()
    assert info["os"] == [platform.system(), platform.platform()]
    assert info["python_version"] == platform.python_version()
    assert isinstance(info["cpu"], str)
    assert info["cpu"]
    assert info["ENV"] == {}
    assert json.loads(json.dumps(info)) == info


def test_cpu_can_be_left_out() -> None:
    SETTINGS.HOST_INFO.INCLUDE_CPU_INFO = False
    assert "cpu" not in get_host_info()


def test_captured_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNOMON_TEST_VAR", "42")
    monkeypatch.delenv("GNOMON_TEST_MISSING", raising=False)
    SETTINGS.HOST_INFO.CAPTURED_ENV = ["GNOMON_TEST_VAR", "GNOMON_TEST_MISSING"]
    assert get_host_info()["ENV"] == {"GNOMON_TEST_VAR": "42"}


def test_gpus_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, CSV)
    assert get_host_info()["gpus"] == {
        "gpus": [
            {"model": "NVIDIA H200", "total_memory": 143771, "persistence_mode": True},
            {"model": "NVIDIA A100-SXM4-40GB", "total_memory": 40960, "persistence_mode": False},
        ],
        "driver_version": "570.86.15",
    }


def test_gpu_memory_not_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, "echo 'NVIDIA H200 MIG 1g.18gb, [N/A], [N/A], 570.1'\n")
    assert get_host_info()["gpus"] == {
        "gpus": [
            {"model": "NVIDIA H200 MIG 1g.18gb", "total_memory": None, "persistence_mode": False}
        ],
        "driver_version": "570.1",
    }


def test_gpus_skipped_when_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, CSV)
    SETTINGS.HOST_INFO.INCLUDE_GPU_INFO = False
    assert "gpus" not in get_host_info()


@pytest.mark.parametrize(
    "body",
    [
        "echo 'NVIDIA-SMI has failed' >&2; exit 9\n",
        "echo 'not, csv'\n",
        "echo 'GPU, lots, Enabled, 1'\n",
        "exit 0\n",
        "exec sleep 30\n",
    ],
    ids=["fails", "too-few-fields", "bad-number", "no-gpus", "hangs"],
)
def test_broken_nvidia_smi_omits_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, body)
    monkeypatch.setattr(host, "NVIDIA_SMI_TIMEOUT", 0.5)
    info = get_host_info()
    assert "gpus" not in info
    assert "hostname" in info


def test_no_nvidia_smi_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "gpus" not in get_host_info()


@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no NVIDIA driver on this machine")
def test_real_nvidia_smi() -> None:
    gpus = get_host_info()["gpus"]
    assert gpus["gpus"]
    assert all(g["total_memory"] > 0 for g in gpus["gpus"])
    assert isinstance(gpus["driver_version"], str)


def test_custom_gatherers() -> None:
    @host_info_gatherer("answer")
    def answer() -> int:
        return 42

    @host_info_gatherer("cluster")
    def cluster() -> str:
        raise IgnoreHostInfo

    @host_info_gatherer("broken")
    def broken() -> str:
        raise OSError("no such thing")

    with pytest.warns(RuntimeWarning, match="'broken' failed.*no such thing"):
        info = get_host_info([answer, cluster, broken])
    assert info["answer"] == 42
    assert "cluster" not in info
    assert "broken" not in info
    assert answer() == 42  # a gatherer still calls like the function


def test_custom_gatherer_values_become_plain_data() -> None:
    @host_info_gatherer("shape")
    def shape() -> tuple[int, int]:
        return (3, 4)

    @host_info_gatherer("unstorable")
    def unstorable() -> object:
        return object()

    with pytest.warns(RuntimeWarning, match="'unstorable' failed"):
        info = get_host_info([shape, unstorable])
    assert info["shape"] == [3, 4]
    assert "unstorable" not in info


def test_custom_name_may_not_shadow_a_default() -> None:
    @host_info_gatherer("hostname")
    def hostname() -> str:
        return "fake"

    with pytest.raises(ConfigError, match="'hostname'"):
        get_host_info([hostname])


def test_duplicate_custom_names_are_rejected() -> None:
    first = host_info_gatherer("x")(lambda: 1)
    second = host_info_gatherer("x")(lambda: 2)
    with pytest.raises(ConfigError, match="'x'"):
        get_host_info([first, second])


def test_deprecated_getter_registers_in_sacreds_global_registry() -> None:
    import gnomon.host

    try:
        with pytest.warns(DeprecationWarning, match="host_info_gatherer"):

            @host_info_getter
            def rack() -> str:
                return "r12"

        with pytest.warns(DeprecationWarning, match="host_info_gatherer"):

            @host_info_getter(name="room")
            def where() -> str:
                return "b1"

        assert rack.name == "rack"
        assert where.name == "room"
        assert rack() == "r12"
        assert set(gnomon.host.host_info_gatherers) == {"rack", "room"}
        info = get_host_info()
        assert info["rack"] == "r12"
        assert info["room"] == "b1"
        # A gatherer given to the experiment wins over the registry's of the same name.
        assert get_host_info([host_info_gatherer("room")(lambda: "b2")])["room"] == "b2"
        gnomon.host.reset()
        assert "rack" not in get_host_info()
    finally:
        gnomon.host.reset()


def test_gatherer_needs_a_name() -> None:
    with pytest.raises(ConfigError, match="needs a non-empty string name"):
        host_info_gatherer(lambda: 1)  # type: ignore[arg-type]
