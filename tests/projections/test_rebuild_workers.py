"""A rebuild in worker processes (``rebuild_many(…, workers=N)``): the same digests as in one
process, and a worker's error surfaces (an interrupted rebuild: test_engine_properties and
test_projection_kill)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from typing import Any

import pytest
from projection_events import append, random_log
from test_rebuild_staging import views_of

from ledger.errors import TrajectError
from projections import (
    CASELOAD,
    HELP_REQUESTS,
    INBURGERING,
    LADDER,
    OUTFLOW,
    PROJECTIONS,
    Views,
    catch_up,
    rebuild_many,
)
from projections.base import NEW_SUFFIX, READ_COST, group_cost, split_groups
from projections.outflow import OutflowProjection

ALL = list(PROJECTIONS.values())


class BrokenOutflow(OutflowProjection):
    """A read model with a bug: its rows cannot be computed."""

    name = "outflow_broken"

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        msg = f"no values for {kind}"
        raise ValueError(msg)


class RefusingOutflow(OutflowProjection):
    """A read model that refuses the log, as a user's mistake would."""

    name = "outflow_refusing"

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        msg = f"kind {kind}: refused by the rule of this read model"
        raise TrajectError(msg)


def digests(results: Any) -> dict[str, str | None]:
    return {result.name: result.digest for result in results}


def test_split_groups_balances_the_cost_and_keeps_the_order() -> None:
    # a log of help requests and ladder assessments: the read models of those kinds weigh most
    events = {topic: 1000.0 for topic in HELP_REQUESTS.topic_fields}
    events |= {topic: 500.0 for topic in LADDER.topic_fields}
    groups = split_groups(ALL, 2, events)
    assert sorted(p.name for group in groups for p in group) == sorted(PROJECTIONS)
    costs = [sum(p.rebuild_cost(events) for p in group) for group in groups]
    assert max(costs) - min(costs) <= max(p.rebuild_cost(events) for p in ALL)
    heavy = {HELP_REQUESTS.name, CASELOAD.name}  # both read many of those events
    assert not any(heavy <= {p.name for p in group} for group in groups)
    order = list(PROJECTIONS)
    for group in groups:
        assert [p.name for p in group] == sorted((p.name for p in group), key=order.index)
    assert split_groups(ALL, 1, events) == [ALL]
    assert split_groups(ALL[:1], 4, events) == [ALL[:1]]


def test_the_cost_of_a_read_model_follows_the_events_of_its_kinds() -> None:
    events = {topic: 100.0 for topic in HELP_REQUESTS.topic_fields}
    assert HELP_REQUESTS.rebuild_cost(events) > 100 * HELP_REQUESTS.rebuild_cost({})
    assert OUTFLOW.rebuild_cost(events) == OUTFLOW.rebuild_cost({}) == 1.0
    with_spans = {topic: 100.0 for topic in LADDER.topic_fields}
    assert LADDER.rebuild_cost(with_spans) > sum(with_spans.values())  # its derived table


def test_a_group_reads_each_kind_once_and_a_read_model_may_weigh_its_derived_tables() -> None:
    events = {topic: 100.0 for topic in {*LADDER.topic_fields, *CASELOAD.topic_fields}}
    both = [CASELOAD, LADDER]  # both keep the ladder assessments: the group reads them once
    read = READ_COST * sum(events.values())
    own = CASELOAD.rebuild_cost(events) + LADDER.rebuild_cost(events)
    assert group_cost(both, events) == pytest.approx(own + read)
    alone = group_cost([CASELOAD], events) + group_cost([LADDER], events)
    assert alone > group_cost(both, events)
    duty = {topic: 100.0 for topic in INBURGERING.topic_fields}
    facts = sum(duty.values())
    assert INBURGERING.derived_cost is not None
    assert INBURGERING.rebuild_cost(duty) == pytest.approx(
        1 + facts * (1 + INBURGERING.derived_cost)
    )


@pytest.mark.parametrize("workers", [2, 3])
def test_no_single_move_or_swap_evens_the_split_further(workers: int) -> None:
    # a mix like a generated ledger's: many caseload and inburgering kinds, some of the rest
    events = {topic: 50.0 for p in ALL for topic in p.topic_fields}
    events |= {topic: 400.0 for topic in CASELOAD.topic_fields}
    events |= {topic: 300.0 for topic in INBURGERING.topic_fields}
    groups = split_groups(ALL, workers, events)
    assert len(groups) == workers
    assert sorted(p.name for group in groups for p in group) == sorted(PROJECTIONS)
    worst = max(group_cost(group, events) for group in groups)
    for a, left in enumerate(groups):
        for b, right in enumerate(groups):
            if a == b:
                continue
            for moved in left:
                for back in [None, *right]:
                    new_left = [p for p in left if p is not moved] + ([back] if back else [])
                    new_right = [p for p in right if p is not back] + [moved]
                    rest = [group_cost(g, events) for i, g in enumerate(groups) if i not in (a, b)]
                    costs = [group_cost(new_left, events), group_cost(new_right, events), *rest]
                    assert not new_left or max(costs) >= worst * (1 - 1e-6)


def test_the_topic_sample_estimates_the_mix_of_kinds(make_ledger: Any, store_url: str) -> None:
    ledger = make_ledger(store_url)
    append(ledger, random_log(seed=11, persons=12, steps=200))
    views = Views(ledger)
    top = views.max_notification_id()
    recorder: Any = views.recorder
    table = recorder.events_table if views.dialect.is_postgres else recorder.events_table_name
    with views.transaction(commit=False) as tx:
        counts = tx.all(f"SELECT topic, count(*) FROM {table} GROUP BY topic")
    exact = {str(topic): float(count) for topic, count in counts}
    assert views.topic_sample(top, size=top) == exact  # every id drawn: the exact counts
    sampled = views.topic_sample(top, size=top // 2)
    assert set(sampled) <= set(exact)
    assert sum(sampled.values()) == pytest.approx(top, rel=0.01)
    assert views.topic_sample(0) == {}


def test_two_workers_give_the_digests_of_one_process_and_of_catching_up(
    make_ledger: Any, store_url: str
) -> None:
    views = views_of(make_ledger, store_url, random_log(31, 8, 300))
    app = views.app
    caught_up = {p.name: catch_up(views, p, page_size=11).digest for p in ALL}
    one = rebuild_many(views, ALL, page_size=7)
    timings: dict[str, float] = {}
    seen: list[tuple[int, int]] = []
    two = rebuild_many(
        views,
        ALL,
        page_size=7,
        workers=2,
        timings=timings,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert digests(one) == digests(two) == caught_up
    top = app.recorder.max_notification_id()
    assert [(r.position, r.events) for r in two] == [(r.position, r.events) for r in one]
    assert all(r.position == top for r in two)
    assert seen[-1] == (top, top)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert {"read", "apply", "digest", "swap"} <= set(timings)
    assert not views.tables_exist(OUTFLOW.tables, suffix=NEW_SUFFIX)
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(
    ("broken", "error", "text"),
    [
        (BrokenOutflow(), RuntimeError, "ValueError: no values for"),
        (RefusingOutflow(), TrajectError, "refused by the rule of this read model"),
    ],
)
def test_a_worker_error_fails_the_rebuild_and_nothing_is_swapped(
    make_ledger: Any, store_url: str, broken: OutflowProjection, error: type, text: str
) -> None:
    app = make_ledger(store_url)
    append(app, random_log(32, 4, 120))
    views = Views(app)
    before = {p.name: catch_up(views, p).digest for p in ALL}
    with pytest.raises(error, match=text) as raised:
        rebuild_many(views, [*ALL, broken], workers=2)
    if error is RuntimeError:
        assert "Traceback" in str(raised.value)  # a bug keeps the worker's traceback
        assert "fact_values" in str(raised.value)
    assert {p.name: views.read_state(p.name).digest for p in ALL} == before  # type: ignore[union-attr]
    assert views.read_state(broken.name) is None
    assert multiprocessing.active_children() == []
