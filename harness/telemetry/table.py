"""The resources table of a run, S.resources.csv: its columns and the rows that are not members
of the stack. One row per member per sample; cpu_percent is % of one core (200 = two cores
busy), memory in MiB; a cell is empty where nothing was measured (no GPU on this machine)."""

COLUMNS = ("t_s", "service", "replica", "cpu_percent", "rss_mib", "gpu_util_percent", "gpu_mem_mib")
MACHINE = "machine"  # the whole machine: CPU of all cores, memory in use
GPU = "gpu"  # one row per device, replica = its index
LOCUST = "locust"  # the load generator's process tree here (its master, and local workers)
LOCUST_WORKER = "locust-worker"  # its workers where the stack runs them (swarm)
