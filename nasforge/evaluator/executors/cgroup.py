"""Limits a Linux control group (a container, a systemd slice) puts on this process.

Inside Docker or Kubernetes, /proc/meminfo and the affinity mask describe the host: the
container's memory limit and CPU quota live in its cgroup. `Cgroups` reads them for cgroup v2
(`memory.max`, `memory.current`, `cpu.max`) and v1 (`memory.limit_in_bytes`,
`memory.usage_in_bytes`, `cpu.cfs_quota_us` / `cpu.cfs_period_us`), in this process's own
group (from /proc/self/cgroup) and each group above it, since any of them may hold the limit;
the tightest wins. Memory in use counts without the inactive page cache (`inactive_file`,
`total_inactive_file` in v1), which the kernel reclaims before the OOM killer acts: the
"working set" that `docker stats` and the kubelet use. Where nothing can be read (macOS, no
limit) the answers are None. Torch-free; reads a few small files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
#: cgroup v1 writes "no limit" as a huge number (9223372036854771712 on 4 KiB pages).
_V1_UNLIMITED = 1 << 60


@dataclass(frozen=True, slots=True)
class Cgroups:
    """The cgroup file system at `root`, and `membership` (the /proc/self/cgroup listing)
    naming this process's group in each hierarchy."""

    root: Path = CGROUP_ROOT
    membership: Path = SELF_CGROUP

    def memory_available(self) -> int | None:
        """Bytes the tightest memory limit still leaves: limit - usage + inactive page
        cache (never below 0); None where no group has a limit."""
        found = [*self._available("", "memory.max", "memory.current", "inactive_file"),
                 *self._available("memory", "memory.limit_in_bytes", "memory.usage_in_bytes",
                                  "total_inactive_file")]
        return max(min(found), 0) if found else None

    def cpu_limit(self) -> float | None:
        """CPUs the tightest CPU quota allows (quota / period, e.g. 1.5); None without one."""
        found = []
        for group in self._groups(""):
            fields = _read(group / "cpu.max").split()
            if len(fields) == 2 and fields[0] != "max" and _positive(*fields):
                found.append(int(fields[0]) / int(fields[1]))
        for group in self._groups("cpu"):
            quota, period = _read(group / "cpu.cfs_quota_us"), _read(group / "cpu.cfs_period_us")
            if _positive(quota, period):  # quota -1: no limit
                found.append(int(quota) / int(period))
        return min(found) if found else None

    def _available(self, controller: str, limit_file: str, usage_file: str,
                   inactive_key: str) -> Iterator[int]:
        for group in self._groups(controller):
            limit, usage = _read(group / limit_file), _read(group / usage_file)
            if not (limit.isdigit() and usage.isdigit()) or int(limit) >= _V1_UNLIMITED:
                continue  # "max", missing, or v1's "unlimited"
            yield int(limit) - int(usage) + _stat(group / "memory.stat", inactive_key)

    def _groups(self, controller: str) -> Iterator[Path]:
        """This process's group folder for `controller` ("": the v2 unified hierarchy) and
        the folders above it, up to the hierarchy's mount point."""
        mount = self.root / controller if controller else self.root
        for line in _read(self.membership).splitlines():
            fields = line.split(":", 2)
            if len(fields) < 3:
                continue
            controllers = fields[1].split(",") if fields[1] else []
            if (controller in controllers) if controller else not controllers:
                own = PurePosixPath(fields[2] or "/").relative_to("/")
                if ".." in own.parts:  # a group outside this cgroup namespace's view
                    break
                for part in (own, *own.parents):
                    yield mount / part
                return
        yield mount  # no listing (or not this hierarchy): the mount point itself


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _positive(*fields: str) -> bool:
    return all(field.isdigit() and int(field) > 0 for field in fields)


def _stat(path: Path, key: str) -> int:
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


#: The cgroups of this process, where Linux mounts them.
THIS_PROCESS = Cgroups()
