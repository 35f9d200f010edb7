"""GPUs through NVML (nvidia-ml-py): utilisation and memory per device, memory per process.

On a machine without a GPU or its driver, NVML does not start and every figure is absent: that
is never an error.
"""

from dataclasses import dataclass

try:
    import pynvml
except ImportError:  # the harness works without the package; there is just no GPU figure
    pynvml = None


@dataclass(frozen=True)
class DeviceSample:
    index: int
    util_percent: float
    memory_mib: float
    total_mib: float


class Gpus:
    def __init__(self) -> None:
        self.available = False
        if pynvml is None:
            return
        try:
            pynvml.nvmlInit()
            self.count = pynvml.nvmlDeviceGetCount()
            self.available = self.count > 0
        except pynvml.NVMLError:
            self.available = False

    def sample(self) -> tuple[list[DeviceSample], dict[int, float]]:
        """Each device's figures, and each process's GPU memory (MiB) by host pid."""
        if not self.available:
            return [], {}
        devices, by_pid = [], {}
        for index in range(self.count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
                devices.append(DeviceSample(index, util, memory.used / 2**20, memory.total / 2**20))
                for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    used = process.usedGpuMemory or 0
                    by_pid[process.pid] = by_pid.get(process.pid, 0.0) + used / 2**20
            except pynvml.NVMLError:
                continue
        return devices, by_pid

    def total_energy_j(self) -> dict[str, float]:
        """Each GPU's energy counter since its driver loaded, in joules; none where the GPU or
        its driver has no such counter (before Volta)."""
        if not self.available:
            return {}
        found = {}
        for index in range(self.count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                found[f"GPU {index}"] = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000
            except pynvml.NVMLError:
                return {}
        return found

    def close(self) -> None:
        if self.available:
            pynvml.nvmlShutdown()
