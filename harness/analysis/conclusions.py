"""The page's conclusions: each stack setup's (harness/stack_setup.py) drawn from its own runs,
capacity searches and tunes alone, so that no figure is set against another backend's or other
stack settings'. The first section says what the runs were measured on; where they were
measured on more than one setup, every sentence after it begins with the one it is about ("On
compose, cpu: 2 replicas serve ...")."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.analysis import capacity, explanations, instrument, sentences, streams
from harness.analysis.formatting import plural
from harness.analysis.tune import tune_sentences
from harness.capacity import CapacityFile
from harness.matrix import Slo
from harness.results import Run
from harness.stack_setup import StackSetup, setup_names
from harness.tune.file import TuneFile

NOTHING = "No valid run has finished with requests answered yet, so there is nothing to conclude."


@dataclass(frozen=True)
class Section:
    """Conclusions on one question."""

    title: str
    sentences: list[str]


def conclusions(
    runs: list[Run],
    slo: Slo,
    capacities: Sequence[CapacityFile] = (),
    tunes: Sequence[TuneFile] = (),
    currency: str = "$",
) -> list[Section]:
    setups = sorted({run.setup for run in runs} | {file.setup for file in [*capacities, *tunes]})
    if not setups:
        return [Section("Conclusions", [NOTHING])]
    names = setup_names(setups)
    alone = len(setups) == 1
    measured_on = []
    by_title: dict[str, list[str]] = {}
    for setup in setups:
        own_runs = [run for run in runs if run.setup == setup]
        own_capacities = [file for file in capacities if file.setup == setup]
        own_tunes = [file for file in tunes if file.setup == setup]
        targets = sorted(
            {run.target for run in own_runs}
            | {file.target for file in [*own_capacities, *own_tunes]}
        )
        measured_on.append(_measured_on(setup, names[setup], len(own_runs), targets, alone))
        for section in _on_one_setup(own_runs, slo, own_capacities, own_tunes, currency):
            said = section.sentences if alone else [_on(names[setup], s) for s in section.sentences]
            by_title.setdefault(section.title, []).extend(said)
    answered = [Section(title, said) for title, said in by_title.items() if said]
    return [Section("Measured on", measured_on), *answered]


def _on_one_setup(
    runs: list[Run],
    slo: Slo,
    capacities: list[CapacityFile],
    tunes: list[TuneFile],
    currency: str,
) -> list[Section]:
    """Every section in the page's order, empty where it has nothing to say: the setups'
    sections are gathered by their place."""
    deploy = [sentence for tune in tunes for sentence in tune_sentences(tune, currency)]
    counted = any(run.counts for run in runs)

    def figured(question: Callable[[], list[str]]) -> list[str]:
        # The questions on the figures are asked once a valid run has figures.
        return question() if counted else []

    return [
        Section("Conclusions", [] if counted or deploy else [NOTHING]),
        Section(
            "Capacity under the SLO",
            figured(lambda: capacity.capacity_sentences(capacities, slo, runs)),
        ),
        Section("What to deploy", deploy),
        Section("Scaling with replicas", figured(lambda: sentences.scaling_sentences(runs))),
        Section(
            "What limits each scale",
            figured(
                lambda: explanations.limit_sentences(runs) + streams.stream_limit_sentences(runs)
            ),
        ),
        Section("GPU against CPU", figured(lambda: sentences.gpu_cpu_sentences(runs))),
        Section(
            "Where p95 breaks the SLO", figured(lambda: sentences.slo_break_sentences(runs, slo))
        ),
        Section(
            "Best configuration under the SLO",
            figured(lambda: sentences.best_configuration_sentences(runs, slo)),
        ),
        Section("Closed against open loop", figured(lambda: capacity.loop_sentences(runs))),
        Section("Load that changes over time", sentences.shape_sentences(runs)),
        Section("Generator-bound runs", sentences.generator_sentences(runs)),
        Section("The instrument's weight", instrument.instrument_sentences(runs)),
        Section("Unstable runs", sentences.unstable_sentences(runs)),
        Section("Failed runs", sentences.failure_sentences(runs)),
        Section("Invalid runs", sentences.invalid_sentences(runs)),
    ]


def _measured_on(setup: StackSetup, name: str, runs: int, targets: list[str], alone: bool) -> str:
    if alone:
        backend = f"the {setup.backend} backend" if setup.backend else "a backend not recorded"
        return f"Measured on {backend}, with {setup.settings}."
    return (
        f"On {name}: {plural(runs, 'run')} on {', '.join(targets)}, with {setup.settings};"
        " the conclusions below compare them with each other only."
    )


def _on(name: str, sentence: str) -> str:
    """A sentence about one setup of several: "On compose, at 2 replicas ..."."""
    first = sentence.split(" ", 1)[0]
    # A capitalised word is lowered after the prefix; a name (cpu) or an acronym (GPU) is not.
    if first[:1].isupper() and first[1:].islower():
        sentence = sentence[0].lower() + sentence[1:]
    return f"On {name}, {sentence}"
