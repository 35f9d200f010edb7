"""Provisioning around the benchmark: the dependency lock, the Docker images built offline."""
