"""Time to build (and to verify) an AMIF evidence pack with an inclusion proof of every fact.

    .venv/bin/python bench/evidence_pack.py                       # 250 participants × ~50 facts
    .venv/bin/python bench/evidence_pack.py --participants 25     # a quick, small run
    .venv/bin/python bench/evidence_pack.py --store postgres

Seeds one AMIF 2021–2027 project with ``--participants`` persons, each with a registration, an
enrolment and ``--facts`` − 2 further project facts (services in the four categories, entry and
exit language levels, feedback, an application, every tenth service corrected), plus costs and
a declaration; signs a checkpoint; catches the ``amif`` read model up once (untimed). Then times
``projections.amif.evidence_pack`` (query, leaf hashes of the whole log, proofs, rendering and
the zip) and ``ledger.evidence.verify_pack`` (offline check with the recount), ``--runs`` times
each, after one warm-up. Target (issue 5): ≤ 5 s to build the pack for 250 × ~50 facts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Stats,
    build_app,
    calibration_ms,
    load_average,
    machine_description,
    print_machine,
    store_url,
    temp_dir,
)

from ledger import audit
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.evidence import verify_pack
from ledger.integrity import generate_signing_key
from ledger.values import Period
from projections import Views
from projections.amif import AMIF, evidence_pack
from projections.base import catch_up

PROJECT = "BENCH"
PERIOD = Period.parse("2021")
CATEGORIES = ("language_course", "civic_orientation", "personal_professional_guidance", "other")


def seed(app: TrajectoryLedger, participants: int, facts: int) -> int:
    """Record the project and its participants; the number of events written."""
    app.record_for_project(
        PROJECT, ev.ProjectRegistered, occurred_on=date(2020, 12, 1), municipality="GM0622",
        title="Benchmark", fund="AMIF_2127", beneficiary="Gemeente", beneficiary_kind="gemeente",
        grant_ref="B-1", eligibility_from=date(2021, 1, 1), eligibility_to=date(2023, 12, 31),
        cofin_rate="0.75", target_total=participants * 2,
        targets_by_municipality={"GM0622": participants // 2},
        partner_municipalities=["GM0622", "GM0599"],
    )  # fmt: skip
    written = 1
    for n in range(participants):
        place = "GM0622" if n % 2 else "GM0599"
        person = app.register_person(
            occurred_on=date(2021, 1, 2), birth_date=date(1990, 1, 1), sex="m",
            nationality=["SY"], municipality=place,
        ).stream_id  # fmt: skip
        start = date(2021, 1, 4) + timedelta(days=n % 60)
        app.record(
            person, ev.ParticipantEnrolled, occurred_on=start, municipality=place,
            project_id=PROJECT, tcn=True, permit_kind="asiel_bt", permit_valid=True,
            checked_on=start, checked_by="bench", eligibility_evidence_ref=f"E-{n}",
            consent_ref=f"C-{n}",
        )  # fmt: skip
        app.record(
            person, ev.LanguageLevelAssessed, occurred_on=start, cefr="A1", method="toets",
            context="entry", project_id=PROJECT,
        )  # fmt: skip
        written += 3
        for k in range(facts - 5):
            on = start + timedelta(days=1 + k * 5 % 300)
            service = app.record(
                person, ev.ServiceDelivered, occurred_on=on, project_id=PROJECT,
                category=CATEGORIES[k % 4], hours="2.5",
            )  # fmt: skip
            written += 1
            if k % 10 == 9:
                app.correct(person, service.version, {"hours": "3"}, reason="nageteld")
                written += 1
        app.record(
            person, ev.LanguageLevelAssessed, occurred_on=date(2021, 12, 1), cefr="A2",
            method="toets", context="exit", project_id=PROJECT,
        )  # fmt: skip
        app.record(
            person, ev.ParticipantFeedbackRecorded, occurred_on=date(2021, 12, 2),
            project_id=PROJECT, helpful="yes" if n % 3 else "no",
        )  # fmt: skip
        written += 2
    for half in ("2021H1", "2021H2"):
        app.record_for_project(
            PROJECT, ev.CostRecorded, occurred_on=date(2022, 2, 1), municipality="GM0622",
            amount="50000.00", category="staff", period=half, doc_ref=f"INV-{half}",
        )  # fmt: skip
        written += 1
    return written


def timed(runs: int, name: str, fn: Callable[[], object]) -> Stats:
    fn()  # warm-up
    stats = Stats(name)
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        stats.samples_ns.append(time.perf_counter_ns() - start)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--participants", type=int, default=250)
    parser.add_argument("--facts", type=int, default=50, help="facts per participant (≥ 6)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print_machine(machine_description(with_postgres=args.store == "postgres"))
    print(f"calibration loop: {calibration_ms():.1f} ms; load {load_average()}")
    with temp_dir() as workdir, store_url(args.store, workdir) as url:
        app = build_app(url)
        try:
            started = time.perf_counter()
            written = seed(app, args.participants, max(6, args.facts))
            print(f"seeded {written} events in {time.perf_counter() - started:.1f} s")
            private, public = generate_signing_key()
            checkpoint = audit.checkpoint(app, private, "traject bench").text.encode()
            views = Views(app)
            catch_up(views, AMIF)
            sizes: list[int] = []

            def build() -> bytes:
                data = evidence_pack(
                    views, PROJECT, PERIOD, checkpoint_text=checkpoint, public_key_pem=public
                )
                sizes.append(len(data))
                return data

            built = timed(args.runs, "build pack", build)
            pack = build()
            report = verify_pack(pack, public)
            if not report.ok:
                print("the pack does not verify:", *report.problems[:5], sep="\n  ")
                return 1
            checked = timed(args.runs, "verify pack", lambda: verify_pack(pack, public))
        finally:
            app.close()
    print(f"pack: {sizes[-1] / 1e6:.1f} MB, {report.facts} facts proven")
    for stats in (built, checked):
        print(f"{stats.name:12} median {stats.median_ms:8.0f} ms  min {stats.min_ms:8.0f} ms")
    target = "met" if built.median_ms <= 5000 else "missed"
    print(f"target ≤ 5 s to build ({args.participants} × {args.facts} facts): {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
