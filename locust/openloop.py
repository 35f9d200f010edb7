"""Open-loop load on Locust: requests arrive on a schedule, whatever happened to earlier ones.

The harness runs `OpenLoopUser` (one per Locust process) beside the run's locustfile and the
recorder: `-f recorder.py,openloop.py,locustfile.py OpenLoopUser --loadbench-schedule SPEC ...`.
Each arrival runs one task of the locustfile's first user class (its requests, its checks), in
its own greenlet, or, where the schedule says what the arrival sends (a trace: an image, or a
prompt or its sizes) and the user can send a given one (`send(what)`, as the built-in user),
that; every request it makes is reported with its latency measured from the arrival's scheduled
time, not from when it was sent: a stall counts against every request it held up (coordinated
omission, as wrk2 avoids it).

The schedule (locust/schedules.py): a flat rate of constant, Poisson or gamma arrivals, a shape
of phases, or a trace. Every process computes the same seeded schedule and takes every K-th
arrival, so the K processes together send exactly it. An arrival that finds
`--loadbench-max-in-flight` requests
of its process still out is dropped; one sent more than LATE_MS after its time is late; both are
counted (recorder counters `dropped`, `late`, beside `scheduled`), never silently shifted.
"""

import json
import random
import time

import gevent
import recorder
from gevent.pool import Pool
from locust import User, constant, events, task
from locust.runners import WorkerRunner
from schedules import Sent, arrivals

LATE_MS = 10.0
DONE_MESSAGE = "loadbench_schedule_done"


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    hidden = {"include_in_web_ui": False}
    parser.add_argument("--loadbench-schedule", default="", **hidden)
    parser.add_argument("--loadbench-max-in-flight", type=int, default=256, **hidden)
    parser.add_argument("--loadbench-processes", type=int, default=1, **hidden)


@events.init.add_listener
def _end_when_every_schedule_is_done(environment, **_kwargs) -> None:
    """The test ends once every process has sent its schedule and heard back from it: the
    measured window then holds every scheduled request, late answers included."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or not environment.parsed_options.loadbench_schedule:
        return
    done = []

    def one_done(**_kw) -> None:
        done.append(True)
        if len(done) == environment.parsed_options.loadbench_processes:
            gevent.spawn(runner.quit)

    runner.register_message(DONE_MESSAGE, one_done)


class ScheduledRequests:
    """Stands in for Locust's request event in the requests an arrival makes: the same report,
    with the latency counted from the arrival's scheduled time."""

    def __init__(self, real) -> None:
        self.real = real
        self.scheduled: dict[gevent.Greenlet, float] = {}

    def due(self) -> float | None:
        """The current arrival's scheduled time (time.monotonic), for the figures a request
        measures itself (a stream's time to first token); None outside an arrival."""
        return self.scheduled.get(gevent.getcurrent())

    def fire(self, **meta) -> None:
        due = self.due()
        if due is not None:
            meta["response_time"] = (time.monotonic() - due) * 1000
        self.real.fire(**meta)


class OpenLoopUser(User):
    """One per Locust process: sends this process's share of the schedule."""

    wait_time = constant(0)

    def __init__(self, environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        if not options.loadbench_schedule:
            raise ValueError("OpenLoopUser needs --loadbench-schedule")
        runner = environment.runner
        process = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        every = options.loadbench_processes
        self.arrivals = arrivals(json.loads(options.loadbench_schedule))[process % every :: every]
        self.pool = Pool(options.loadbench_max_in_flight)
        self.requests = ScheduledRequests(environment.events.request)
        self.template = self._request_user(environment)
        self.template.client.request_event = self.requests

    def _request_user(self, environment) -> User:
        """An instance of the locustfile's user: its tasks make the requests."""
        for user_class in environment.available_user_classes.values():
            if user_class is not OpenLoopUser and user_class.tasks:
                user_class.host = environment.host
                user_class.client_pool = None
                user_class.concurrency = environment.parsed_options.loadbench_max_in_flight
                return user_class(environment)
        raise ValueError("the locustfile has no user class with tasks to send")

    @task
    def send_the_schedule(self) -> None:
        started = time.monotonic()
        for offset, sent in self.arrivals:
            due = started + offset
            ahead = due - time.monotonic()
            # Arrivals already due (a burst) are spawned together, without yielding between
            # them: a yield would first run the senders spawned so far, and the burst would
            # look late for the time its own requests took to send.
            if ahead > 0:
                gevent.sleep(ahead)
            recorder.count("scheduled")
            if self.pool.full():
                recorder.count("dropped")
                continue
            if (time.monotonic() - due) * 1000 > LATE_MS:
                recorder.count("late")
            self.pool.spawn(self._arrive, due, sent)
        self.pool.join()
        self.environment.runner.send_message(DONE_MESSAGE)
        # Returning would start the schedule again: wait for the end of the test instead.
        while True:
            gevent.sleep(1)

    def _arrive(self, due: float, sent: Sent) -> None:
        self.requests.scheduled[gevent.getcurrent()] = due
        try:
            if sent is not None and hasattr(self.template, "send"):
                self.template.send(sent)
            else:
                random.choice(self.template.tasks)(self.template)
        finally:
            del self.requests.scheduled[gevent.getcurrent()]

    def on_stop(self) -> None:
        self.pool.kill(block=False)
