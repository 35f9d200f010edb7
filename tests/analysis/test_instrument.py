"""What the instrument weighed: the page says so when the harness and Locust took more than a
tenth of the machine, or more than a tenth of it went to no process the record names, and says
nothing of a run that weighed less."""

from harness.analysis.conclusions import conclusions
from harness.analysis.instrument import instrument_sentences
from harness.matrix import Slo
from harness.record.parts import MemberUse, ResourceUse
from tests.index.runs import make_run

SLO = Slo(p95_ms=500, max_failure_ratio=0.01)


def resources(locust: float, harness: float, unaccounted: float) -> ResourceUse:
    def member(service: str, replica: str, cpu: float) -> MemberUse:
        return MemberUse(service, replica, cpu, cpu, 100.0, 100.0, None)

    members = (member("model", "1", 150.0), member("locust", "", locust))
    return ResourceUse(
        interval_s=1.0,
        members=(*members, member("harness", "", harness)),
        machine_cpu_peak=200.0,
        machine_cpu_mean=150.0 + locust + harness + unaccounted,
        cores=2,
        gpus=(),
        unaccounted_cpu_mean=unaccounted,
    )


def test_an_instrument_over_a_tenth_of_the_machine_is_said_with_its_worst_run() -> None:
    light = make_run(models=1, users=4, resources=resources(10.0, 1.0, 2.0))
    heavy = make_run(models=1, users=8, resources=resources(20.0, 6.0, 2.0))
    said = instrument_sentences([light, heavy])
    assert said == [
        "In 1 of 2 runs the harness and Locust together took more than 10% of the machine (up"
        " to 13%, 1_8_1): the instrument competed with the stack for the cores, so those"
        " figures understate it."
    ]


def test_a_tenth_of_the_machine_no_process_used_is_said() -> None:
    lost = make_run(models=2, users=8, resources=resources(5.0, 1.0, 30.0))
    [said] = instrument_sentences([lost])
    assert said.startswith("In 1 of 1 run more than 10% of the machine's CPU went to no process")
    assert "(up to 15%, 2_8_1)" in said


def test_a_light_instrument_and_records_before_schema_5_say_nothing() -> None:
    light = make_run(resources=resources(10.0, 1.0, 2.0))
    older = make_run(users=2, resources=None)
    assert instrument_sentences([light, older]) == []
    titles = [section.title for section in conclusions([light, older], SLO)]
    assert "The instrument's weight" not in titles


def test_the_page_names_the_backend_of_a_heavy_run_where_it_holds_several() -> None:
    local = make_run(users=8, resources=resources(10.0, 1.0, 2.0))
    compose = make_run(users=4, backend="compose", resources=resources(30.0, 2.0, 2.0))
    [section] = [
        section
        for section in conclusions([local, compose], SLO)
        if section.title == "The instrument's weight"
    ]
    assert section.sentences == [
        "On compose, in 1 of 1 run the harness and Locust together took more than 10% of the"
        " machine (up to 16%, 1_4_1): the instrument competed with the stack for the cores, so"
        " those figures understate it."
    ]
