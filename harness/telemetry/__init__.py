"""What is sampled while a run is measured: each process's and container's CPU and memory
(resources), the GPUs (gpu), and the stack's request stages from its /metrics (stages)."""
