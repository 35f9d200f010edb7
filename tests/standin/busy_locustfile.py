"""A locustfile whose every request costs the load generator a known CPU time (BUSY_MS) before it
is sent: a rate above 1000 / BUSY_MS arrivals per second is beyond one Locust process on any
machine, however fast, since a process runs its greenlets on one core at a time."""

import time

from locust import FastHttpUser, constant, task

BUSY_MS = 5.0


class BusyUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self) -> None:
        # CPU time, not wall time: the generator's own work, whatever else shares the machine.
        started = time.thread_time()
        while (time.thread_time() - started) * 1000 < BUSY_MS:
            pass
        self.client.post("/predict", data=b"image", name="/predict")
