"""Measured evidence for the changes docs/benchmarks.md suggests: nothing here is used by traject.

    .venv/bin/python bench/what_if.py load          # ways to rebuild a 60-event stream
    .venv/bin/python bench/what_if.py pg-save       # ways to save one event on PostgreSQL
    .venv/bin/python bench/what_if.py cli-startup   # ways to start `traject record`
    .venv/bin/python bench/what_if.py all

``load``: the library's ``project_aggregate`` asserts ``isinstance(event, CanMutateProtocol)``
for every event; on Python 3.11 a runtime-checkable Protocol check walks the protocol's
attributes each time. And ``StreamAggregate.apply`` replays all effective events after every
EventCorrected / EventRetracted, so a load does O(events × corrections) ``evolve`` calls. The
alternatives: a projector that calls ``event.mutate`` directly, and one that folds once at the
end (corrections recorded, one replay). Both produce the same aggregate (checked).

``cli-startup``: ``traject record ladder-assessed`` as a process, as installed, beside the
same with PYDANTIC_DISABLE_PLUGINS=__all__ (pydantic then skips its entry-point scan), and
without ``site`` (``python -S`` with an explicit sys.path: no .pth files, no editable-install
finder, which is what a wheel install saves at most).

``pg-save``: the library's PostgreSQL insert runs in a psycopg pipeline: BEGIN, SET LOCAL
lock_timeout, LOCK TABLE … IN EXCLUSIVE MODE, NOTIFY, INSERT, then COMMIT. The variants
subclass traject's recorder (selected by APPLICATION_RECORDER_TOPIC) and drop one thing at a
time; each is timed as a whole ``app.record`` on ~10-event persons, in interleaved rounds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from eventsourcing.application import project_aggregate
from eventsourcing.utils import get_topic

from ledger import events as ev
from ledger.aggregates import AGGREGATE_CLASSES, StreamAggregate, corrected_event
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key
from ledger.persistence import TrajectPostgresRecorder

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    DEFAULT_MUNICIPALITY,
    build_app,
    machine_description,
    measure,
    print_machine,
    seed_person,
    store_url,
    temp_dir,
    wait_for_idle,
)

# --- load ---------------------------------------------------------------------------------


def plain_projector(aggregate: Any, events: Any) -> Any:
    """``project_aggregate`` without the per-event runtime Protocol check."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def fold_once_projector(aggregate: Any, events: Any) -> Any:
    """Record every event as ``apply`` does, but evolve the state once, at the end."""
    for event in events:
        if aggregate is None:
            aggregate = AGGREGATE_CLASSES[event.stream](event.originator_id)
        version = event.originator_version
        if event.originator_id != aggregate.id or version != aggregate.version + 1:
            msg = f"event v{version} does not follow v{aggregate.version}"
            raise RuntimeError(msg)
        aggregate.version = version
        aggregate.stored[version] = event
        if isinstance(event, ev.EventCorrected):
            target = aggregate.effective[event.target_version]
            aggregate.effective[event.target_version] = corrected_event(target, event)
            aggregate.corrected_by.setdefault(event.target_version, []).append(version)
        elif isinstance(event, ev.EventRetracted):
            aggregate.effective.pop(event.target_version, None)
            aggregate.retracted_by[event.target_version] = version
        else:
            aggregate.effective[version] = event
    if aggregate is not None:
        aggregate.replay()
    return aggregate


def same(a: StreamAggregate, b: StreamAggregate) -> bool:
    return (
        getattr(a, "state", None) == getattr(b, "state", None)
        and a.effective == b.effective
        and a.stored == b.stored
        and a.corrected_by == b.corrected_by
        and a.retracted_by == b.retracted_by
        and a.version == b.version
    )


def what_if_load(args: Any) -> None:
    print(f"\n== load: rebuilding one 60-event person (SQLite), {args.runs} runs")
    with temp_dir() as workdir, store_url("sqlite", workdir) as url:
        app = build_app(url)
        for correct_every in (10, 0):
            person = seed_person(app, 60, correct_every=correct_every)
            stored = app.recorder.select_events(person)
            events = [app.mapper.to_domain_event(s) for s in stored]
            reference = project_aggregate(None, events)
            for projector in (plain_projector, fold_once_projector):
                assert same(reference, projector(None, events)), projector.__name__
            label = f"correction every {correct_every}" if correct_every else "no corrections"
            print(f"-- stream with {label}")
            cases = {
                "select_events (SQL + rows)": lambda _i, p=person: app.recorder.select_events(p),
                "decode 60 stored events (mapper)": lambda _i, s=stored: [
                    app.mapper.to_domain_event(x) for x in s
                ],
                "project_aggregate (library)": lambda _i, e=events: project_aggregate(None, e),
                "plain projector": lambda _i, e=events: plain_projector(None, e),
                "fold-once projector": lambda _i, e=events: fold_once_projector(None, e),
                "repository.get (as _load does)": lambda _i, p=person: app.repository.get(p),
                "repository.get, plain projector": lambda _i, p=person: app.repository.get(
                    p, projector_func=plain_projector
                ),
                "repository.get, fold-once projector": lambda _i, p=person: app.repository.get(
                    p, projector_func=fold_once_projector
                ),
                "timeline (as now)": lambda _i, p=person: app.timeline(p),
            }
            for name, fn in cases.items():
                print(measure(name, fn, runs=args.runs, warmup=args.warmup).row())
        app.close()


# --- PostgreSQL save ----------------------------------------------------------------------


class NoNotify(TrajectPostgresRecorder):
    """The library's pipeline, without NOTIFY (traject has no LISTENer)."""

    def _notify_channel(self, curs: Any) -> None:
        pass


class Sequential(TrajectPostgresRecorder):
    """The same statements, sent one after another in a plain transaction (no pipeline)."""

    notify = True
    set_local = True
    lock = True

    def insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, **kwargs)
            if self.lock:
                statements = self.lock_table_statements
                for statement in statements if self.set_local else statements[1:]:
                    curs.execute(statement, prepare=True)
            if self.notify:
                self._notify_channel(curs)
            curs.execute(self.insert_events_statement, (rows,), prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]


class SequentialNoNotify(Sequential):
    notify = False


class SequentialLockOnly(Sequential):
    """No pipeline, no NOTIFY, no SET LOCAL (lock_timeout would be set once per connection)."""

    notify = False
    set_local = False


class SequentialNoLock(Sequential):
    """No pipeline, no NOTIFY, no table lock: only if nothing reads the notification log."""

    notify = False
    lock = False


PG_VARIANTS = [
    TrajectPostgresRecorder,
    NoNotify,
    Sequential,
    SequentialNoNotify,
    SequentialLockOnly,
    SequentialNoLock,
]


def what_if_pg_save(args: Any) -> None:
    print(f"\n== pg-save: app.record on ~10-event persons, {args.rounds} interleaved rounds")
    key = generate_master_key()
    totals: dict[str, list[float]] = {}
    saves: dict[str, list[float]] = {}
    with temp_dir() as workdir, store_url("postgres", workdir) as url:
        for _ in range(args.rounds):
            for variant in PG_VARIANTS:
                env = dict(parse_database_url(url).library_env)
                env["APPLICATION_RECORDER_TOPIC"] = get_topic(variant)
                app = TrajectoryLedger(env, key)
                app.initialise(default_municipality=DEFAULT_MUNICIPALITY)
                n_persons = math.ceil((args.runs + args.warmup) / 5)  # streams of 10..14
                persons = [seed_person(app, 10) for _ in range(n_persons)]
                save_ns: list[int] = []
                original = app.save

                def timed_save(*a: Any, _o: Any = original, _s: Any = save_ns, **k: Any) -> Any:
                    start = time.perf_counter_ns()
                    try:
                        return _o(*a, **k)
                    finally:
                        _s.append(time.perf_counter_ns() - start)

                app.save = timed_save  # type: ignore[method-assign]

                def append(i: int, _app: Any = app, _p: Any = persons) -> None:
                    _app.record(
                        _p[i % len(_p)],
                        ev.LadderAssessed,
                        occurred_on=date(2024, 6, 1),
                        rung=3,
                        assessor="bench",
                    )

                stats = measure(variant.__name__, append, runs=args.runs, warmup=args.warmup)
                totals.setdefault(variant.__name__, []).append(stats.median_ms)
                saves.setdefault(variant.__name__, []).append(
                    statistics.median(save_ns[args.warmup :]) / 1e6
                )
                app.close()
    print("\n| recorder variant | append median ms (per round) | save median ms (per round) |")
    print("|---|---|---|")
    for name, per_round in totals.items():
        t = ", ".join(f"{x:.2f}" for x in per_round)
        s = ", ".join(f"{x:.2f}" for x in saves[name])
        print(
            f"| {name} | **{statistics.median(per_round):.2f}** ({t}) "
            f"| **{statistics.median(saves[name]):.2f}** ({s}) |"
        )


# --- CLI start-up --------------------------------------------------------------------------


def what_if_cli_startup(args: Any) -> None:
    import site  # noqa: PLC0415 - only here
    import sysconfig  # noqa: PLC0415

    import cli_process  # noqa: PLC0415 - a sibling script

    ready, why = cli_process.cli_ready()
    if not ready:
        print(f"\n== cli-startup: skipped, the CLI is not ready ({why})")
        return
    runs = max(10, args.runs // 10)
    print(f"\n== cli-startup: `traject record ladder-assessed`, {runs} runs each, interleaved")
    with temp_dir() as workdir:
        person = cli_process.set_up(workdir, 10)
        env = cli_process.child_env(workdir)
        record = ["record", "ladder-assessed", person, *cli_process.RECORD_ARGS]
        paths = [str(cli_process.ROOT), sysconfig.get_paths()["purelib"]]
        paths += [p for p in site.getsitepackages() if p not in paths]
        no_site = (
            f"import sys; sys.path[:0] = {paths!r}; sys.argv = ['traject', *{record!r}];"
            " from cli import cli; sys.exit(cli())"
        )
        variants = {
            "as installed": ([str(cli_process.TRAJECT), *record], env),
            "PYDANTIC_DISABLE_PLUGINS=__all__": (
                [str(cli_process.TRAJECT), *record],
                {**env, "PYDANTIC_DISABLE_PLUGINS": "__all__"},
            ),
            "python -S, explicit sys.path (no .pth)": (
                [str(cli_process.PYTHON), "-S", "-c", no_site],
                env,
            ),
            "python -c pass": ([str(cli_process.PYTHON), "-c", "pass"], env),
        }
        samples: dict[str, list[int]] = {name: [] for name in variants}
        for _ in range(3):
            for argv, variant_env in variants.values():
                cli_process.time_process(argv, variant_env)
        names = list(variants)
        for i in range(runs):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                argv, variant_env = variants[name]
                samples[name].append(cli_process.time_process(argv, variant_env))
    print("\n| variant | median ms | min ms |\n|---|---:|---:|")
    for name, values in samples.items():
        print(f"| {name} | {statistics.median(values) / 1e6:.1f} | {min(values) / 1e6:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what", nargs="?", default="all", choices=["load", "pg-save", "cli-startup", "all"]
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="pg-save: interleaved rounds")
    parser.add_argument("--wait-idle", type=float, default=120)
    args = parser.parse_args(argv)
    if args.wait_idle:
        wait_for_idle(timeout=args.wait_idle)
    print_machine(machine_description(with_postgres=args.what != "load"))
    if args.what in ("load", "all"):
        what_if_load(args)
    if args.what in ("pg-save", "all"):
        what_if_pg_save(args)
    if args.what in ("cli-startup", "all"):
        what_if_cli_startup(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
