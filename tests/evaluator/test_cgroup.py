"""Container limits from a fake cgroup folder: available memory counts reclaimable page cache
(inactive_file) as docker and the kubelet do; the CPU quota bounds the local workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasforge.evaluator.data import memory
from nasforge.evaluator.executors import capacity
from nasforge.evaluator.executors.cgroup import Cgroups

MiB = 2**20


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def fake(tmp_path: Path, membership: str) -> Cgroups:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "self_cgroup").write_text(membership)
    return Cgroups(root=tmp_path / "fs", membership=tmp_path / "self_cgroup")


def meminfo(tmp_path: Path, available_mb: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available_mb * 1024} kB\n")
    return path


def test_v2_limit_minus_usage_plus_inactive_page_cache(tmp_path) -> None:
    cgroups = fake(tmp_path, "0::/\n")
    write(tmp_path / "fs", {"memory.max": f"{1000 * MiB}\n", "memory.current": f"{900 * MiB}\n",
                            "memory.stat": f"anon 1\ninactive_file {300 * MiB}\nactive_file 5\n"})
    assert cgroups.memory_available() == 400 * MiB
    assert memory.available_memory(cgroups, meminfo(tmp_path, 8000)) == 400 * MiB
    assert memory.available_memory(cgroups, meminfo(tmp_path, 200)) == 200 * MiB  # host tighter


def test_v2_own_group_and_its_ancestors_the_tightest_wins(tmp_path) -> None:
    cgroups = fake(tmp_path, "0::/app/job\n")
    write(tmp_path / "fs", {"memory.max": "max\n", "memory.current": "1\n"})
    write(tmp_path / "fs/app", {"memory.max": f"{500 * MiB}", "memory.current": f"{450 * MiB}",
                                "memory.stat": "inactive_file 0\n"})
    write(tmp_path / "fs/app/job", {"memory.max": f"{2000 * MiB}",
                                    "memory.current": f"{100 * MiB}"})
    assert cgroups.memory_available() == 50 * MiB


def test_v1_limit_usage_and_total_inactive_file(tmp_path) -> None:
    cgroups = fake(tmp_path, "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n")
    # inside the container the group is mounted at the controller's root
    write(tmp_path / "fs/memory", {"memory.limit_in_bytes": f"{1000 * MiB}",
                                   "memory.usage_in_bytes": f"{800 * MiB}",
                                   "memory.stat": f"inactive_file {MiB}\n"
                                                  f"total_inactive_file {200 * MiB}\n"})
    assert cgroups.memory_available() == 400 * MiB


def test_no_limit_is_none_and_never_below_zero(tmp_path) -> None:
    unlimited = fake(tmp_path, "4:memory:/\n0::/\n")
    write(tmp_path / "fs", {"memory.max": "max\n", "cpu.max": "max 100000\n"})
    write(tmp_path / "fs/memory", {"memory.limit_in_bytes": "9223372036854771712",
                                   "memory.usage_in_bytes": "5"})
    assert unlimited.memory_available() is None and unlimited.cpu_limit() is None
    assert memory.available_memory(unlimited, meminfo(tmp_path, 300)) == 300 * MiB
    write(tmp_path / "fs", {"memory.max": "100", "memory.current": "500"})
    assert unlimited.memory_available() == 0
    assert Cgroups(tmp_path / "nowhere", tmp_path / "nothing").memory_available() is None
    outside = fake(tmp_path / "ns", "0::/../../elsewhere\n")  # out of the namespace's view
    write(tmp_path / "ns/fs", {"memory.max": "1000", "memory.current": "100"})
    assert outside.memory_available() == 900  # the mount point's group, nothing above it


def test_cpu_quota_v2_and_v1(tmp_path) -> None:
    v2 = fake(tmp_path, "0::/\n")
    write(tmp_path / "fs", {"cpu.max": "150000 100000\n"})
    assert v2.cpu_limit() == pytest.approx(1.5)
    v1 = fake(tmp_path / "v1", "2:cpu,cpuacct:/kubepods/pod1\n")
    write(tmp_path / "v1/fs/cpu", {"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"})
    assert v1.cpu_limit() is None
    write(tmp_path / "v1/fs/cpu", {"cpu.cfs_quota_us": "300000"})
    assert v1.cpu_limit() == pytest.approx(3.0)


def test_capacity_counts_the_cpu_quota_and_the_shared_memory_figure(tmp_path,
                                                                     monkeypatch) -> None:
    cgroups = fake(tmp_path, "0::/\n")
    write(tmp_path / "fs", {"cpu.max": "150000 100000\n", "memory.max": f"{4000 * MiB}",
                            "memory.current": f"{1000 * MiB}", "memory.stat": "inactive_file 0"})
    monkeypatch.setattr(capacity, "cpu_count", lambda: 8)
    here = capacity.machine_capacity(cgroups, meminfo(tmp_path, 64000))
    assert here.cores == 2  # 1.5 CPUs of quota: two workers can each get part of a core
    assert here.available_mb == pytest.approx(3000)
    monkeypatch.setattr(capacity, "cpu_count", lambda: 1)  # the affinity mask is tighter
    assert capacity.machine_capacity(cgroups, meminfo(tmp_path, 64000)).cores == 1
    assert not hasattr(capacity, "available_memory_mb")  # one function: memory.available_memory
