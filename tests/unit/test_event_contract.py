"""The stored-event contract: a stored sample of every event class keeps loading, byte for byte.

``tests/data/events/<ClassName>.v<class_version>.json`` holds one stored event (topic, stream,
version and the canonical JSON state) per class. Samples are written once, by running this
module with ``TRAJECT_WRITE_SAMPLES=1`` (only missing files are written), and committed. They
hold no personal fields: those are stored encrypted under a per-stream key (``_pii``), so their
bytes depend on the key and are covered by the round-trip property tests instead. The one
exception is a field that a later class version made personal (``personal_since``): the sample
of an earlier version holds it in clear, as that version stored it.
"""

from __future__ import annotations

import json
import os
import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin
from uuid import NAMESPACE_URL, UUID, uuid5

import annotated_types as at
import orjson
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from pydantic import AwareDatetime, BaseModel

from ledger import events as ev
from ledger.crypto import HeldKeys, KeyRing, generate_master_key
from ledger.persistence import PII_KEY, PydanticMapper

SAMPLES = Path(__file__).parent.parent / "data" / "events"
WRITE_ENV = "TRAJECT_WRITE_SAMPLES"

SAMPLE_DAY = date(2024, 3, 4)
SAMPLE_TIME = datetime(2024, 3, 4, 12, 30, tzinfo=UTC)

# values for constrained strings, by their pattern
PATTERN_VALUES = {
    r"^GM[0-9]{4}$": "GM0622",
    r"^([A-Z]{2}|XXA|XXX)$": "SY",
    r"^[0-9]{4}H[12]$": "2024H1",
    r"^[0-9a-f]{64}$": "9f" * 32,
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$": "MWP",
    r"^[0-9]{4}(H[12]|Q[1-4])?$": "2024H1",
    r"^[a-z][a-z0-9_]{0,63}$": "health_barrier",
}
# fields whose value the model derives, or whose generic value would be meaningless
OVERRIDES: dict[type[ev.TrajectEvent], dict[str, Any]] = {
    ev.InburgeringDutyEstablished: {
        "regime": None,
        "ona_required": None,
        "pvt_required": None,
        "rule_version": None,
    },
    ev.EventCorrected: {"target_version": 2, "changes": {"rung": 4, "assessor": "m.devries"}},
    ev.EventRetracted: {"target_version": 2},
    ev.PersonRegistered: {"nationality": ["SY", "XXA"]},
    ev.SpecialCategoryRead: {"command": "timeline"},
    ev.ReportSealed: {
        "command": ["report", "outflow", "--period", "2024H1"],
        "result_json": '{"period":"2024H1","rows":[{"outflow_type":"total","started":2}]}',
        "digest": "0117e80209184b0f7c43bbbb0c63433226301a662bf8d7b4cf6de8030d44c3c6",
        "read_models": {"outflow": 4},
    },
}


def sample_path(cls: type[ev.TrajectEvent]) -> Path:
    return SAMPLES / f"{cls.__name__}.v{cls.class_version}.json"


def canonical(tp: Any, metadata: list[Any], name: str) -> Any:
    """A fixed, valid value for a field of annotation ``tp`` (optional fields are filled too)."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *extra = get_args(tp)
        flat: list[Any] = []
        for item in extra:
            flat.extend(item if isinstance(item, at.GroupedMetadata) else [item])
        return canonical(base, flat + metadata, name)
    if origin in (typing.Union, types.UnionType):
        first = next(arg for arg in get_args(tp) if arg is not type(None))
        return canonical(first, metadata, name)
    if origin is tuple or origin is list:
        return [canonical(get_args(tp)[0], [], name)]
    if origin is dict:
        key, value = get_args(tp)
        return {canonical(key, [], name): canonical(value, [], name)}
    pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
    low = next((m.ge for m in metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in metadata if getattr(m, "le", None) is not None), None)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return next(iter(tp)).value
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {n: canonical(i.annotation, list(i.metadata), n) for n, i in tp.model_fields.items()}
    if tp is bool:
        return True
    if tp is int:
        return max(low or 0, 1) if high is None else min(max(low or 0, 1), high)
    if tp is Decimal:
        return "0.75" if high is not None and high <= 1 else "12.50"
    if tp is date:
        return SAMPLE_DAY.isoformat()
    if tp is AwareDatetime:
        return SAMPLE_TIME.isoformat()
    if tp is UUID:
        return str(uuid5(NAMESPACE_URL, f"traject:sample/{name}"))
    if tp is str:
        if pattern is not None:
            return PATTERN_VALUES[pattern]
        return f"voorbeeld {name}"
    msg = f"no canonical value for {name}: {tp!r}"
    raise NotImplementedError(msg)


def sample_event(cls: type[ev.TrajectEvent]) -> ev.TrajectEvent:
    """An event of ``cls`` with every non-personal field filled with a fixed value."""
    personal = cls.personal_fields()
    fields: dict[str, Any] = {
        name: canonical(info.annotation, list(info.metadata), name)
        for name, info in cls.model_fields.items()
        if name not in personal and name not in {"originator_id", "originator_version", "timestamp"}
    }
    fields |= OVERRIDES.get(cls, {})
    fields = {k: v for k, v in fields.items() if v is not None}
    return cls.model_validate(
        {
            **fields,
            "originator_id": uuid5(NAMESPACE_URL, f"traject:sample/{cls.__name__}"),
            "originator_version": 1 if cls is ev.PersonRegistered else 3,
            "timestamp": SAMPLE_TIME,
        }
    )


def write_sample(cls: type[ev.TrajectEvent]) -> None:
    stored = PydanticMapper().to_stored_event(sample_event(cls))
    document = {
        "topic": stored.topic,
        "originator_id": str(stored.originator_id),
        "originator_version": stored.originator_version,
        "state": orjson.loads(stored.state),
    }
    SAMPLES.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    sample_path(cls).write_text(text, encoding="utf-8")


def load_sample(path: Path) -> StoredEvent:
    document = json.loads(path.read_text(encoding="utf-8"))
    return StoredEvent(
        originator_id=UUID(document["originator_id"]),
        originator_version=document["originator_version"],
        topic=document["topic"],
        state=orjson.dumps(document["state"], option=orjson.OPT_SORT_KEYS),
    )


def sample_version(path: Path) -> int:
    """The class version a sample was stored by (``<ClassName>.v<version>.json``)."""
    return int(path.stem.rsplit(".v", 1)[1])


def keyed_mapper(stream_id: UUID) -> PydanticMapper:
    """A mapper with a fresh data key for ``stream_id``, held in memory (nothing stored)."""
    keys = KeyRing(generate_master_key(), HeldKeys({}))
    keys.new_data_key(stream_id)
    keyed = PydanticMapper()
    keyed.keyring = keys
    return keyed


@pytest.fixture(scope="module")
def mapper() -> PydanticMapper:
    # no key ring: a sample that needed one would hold personal fields
    return PydanticMapper()


def sample_ids(value: Any) -> str:
    return value.__name__ if isinstance(value, type) else str(value)


@pytest.mark.parametrize("cls", ev.EVENT_CLASSES, ids=sample_ids)
def test_every_event_class_has_a_stored_sample(cls):
    path = sample_path(cls)
    if not path.exists() and os.environ.get(WRITE_ENV) == "1":
        write_sample(cls)
    assert path.exists(), (
        f"{path.name} is missing: run `{WRITE_ENV}=1 pytest {Path(__file__).name}` once and "
        "commit the new sample"
    )


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_a_stored_sample_still_loads_and_dumps_to_the_same_bytes(path, mapper):
    stored = load_sample(path)
    # it still loads through the mapper, into the class its topic names
    event = mapper.to_domain_event(stored)
    assert f"{type(event).__module__}:{type(event).__qualname__}" == stored.topic
    assert event.originator_id == stored.originator_id
    cls = type(event)
    version = sample_version(path)
    if version == cls.class_version:
        # and dumping it again gives the very same stored event
        assert mapper.to_stored_event(event) == stored
        return
    # an older version loads upcast, and is stored again as the current version
    in_clear = cls.stored_in_clear(version)
    assert {name for name in in_clear if getattr(event, name) is not None} == in_clear & set(
        orjson.loads(stored.state)
    )  # a field it held in clear loads with its value
    again = keyed_mapper(event.originator_id) if in_clear else mapper
    state = orjson.loads(again.to_stored_event(event).state)
    assert state["class_version"] == cls.class_version
    # a field made personal since is encrypted now, no longer in clear
    assert not in_clear & set(state)
    assert (PII_KEY in state) == bool(in_clear)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_a_stored_sample_holds_no_personal_field(path, mapper):
    stored = load_sample(path)
    state = orjson.loads(stored.state)
    cls = type(mapper.to_domain_event(stored))
    assert PII_KEY not in state
    # only a field that a later class version made personal was stored in clear, by the
    # versions before that one
    assert not (cls.personal_fields() - cls.stored_in_clear(sample_version(path))) & set(state)


def test_a_sample_names_its_class_version():
    for path in SAMPLES.glob("*.json"):
        name, version = path.stem.rsplit(".v", 1)
        cls = next(c for c in ev.EVENT_CLASSES if c.__name__ == name)
        assert int(version) <= cls.class_version


@pytest.mark.parametrize("cls", ev.EVENT_CLASSES, ids=sample_ids)
def test_a_field_made_personal_later_is_personal_now_and_has_a_sample_from_before(cls):
    for name, since in cls.personal_since.items():
        # personal from a version the class has reached, after its first
        assert name in cls.personal_fields()
        assert 1 < since <= cls.class_version
        # a sample of the version before keeps the clear value readable, for good
        before = SAMPLES / f"{cls.__name__}.v{since - 1}.json"
        assert before.exists(), before.name
        assert name in orjson.loads(load_sample(before).state)
    assert cls.stored_in_clear(cls.class_version) == frozenset()


def test_only_a_version_before_the_change_stores_a_field_in_clear():
    assert ev.ExemptionGranted.stored_in_clear(1) == {"ground"}
    assert ev.ExemptionGranted.stored_in_clear(2) == frozenset()
    assert ev.BroadIntakeCompleted.stored_in_clear(1) == {"work_experience"}
    assert ev.LadderAssessed.stored_in_clear(1) == frozenset()


def test_the_stored_state_is_canonical_json_without_the_stream_columns(mapper):
    stored = mapper.to_stored_event(sample_event(ev.LadderAssessed))
    state = orjson.loads(stored.state)
    # originator id and version are columns, not state
    assert "originator_id" not in state
    assert "originator_version" not in state
    # sorted keys, compact: the same event always gives the same bytes
    assert stored.state == orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    assert state["timestamp"] == "2024-03-04T12:30:00Z"
    assert state["occurred_on"] == "2024-03-04"


def test_the_samples_fill_every_non_personal_payload_field():
    # guards canonical(): every payload field of every class gets a value
    for cls in ev.EVENT_CLASSES:
        event = sample_event(cls)
        for name in cls.payload_fields():
            if name in cls.personal_fields():
                assert getattr(event, name) is None
            elif name not in OVERRIDES.get(cls, {}):
                assert getattr(event, name) not in (None, (), {}), (cls.__name__, name)


# --- upcasting: a stored v1 event loads into the current version of its class ---------------


class AssessedOnAScale(ev.TrajectEvent):
    """Version 2 of a ladder assessment: adds the scale the rung was read on."""

    class_version: typing.ClassVar[int] = 2

    rung: int
    assessor: str
    scale: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["scale"] = "participatieladder-2011"


def test_a_stored_version_1_event_is_upcast_on_load_and_stored_again_as_version_2():
    mapper = PydanticMapper()
    v1 = ev.LadderAssessed(
        originator_id=uuid5(NAMESPACE_URL, "upcast"),
        originator_version=3,
        timestamp=datetime(2024, 6, 1, 9, tzinfo=UTC),
        occurred_on=date(2024, 6, 1),
        recorded_by="r.jansen",
        municipality="GM0622",
        rung=3,
        assessor="r.jansen",
    )
    stored_v1 = mapper.to_stored_event(v1)
    # a v1 state carries no class_version; the class has moved on to version 2 since
    assert b"class_version" not in stored_v1.state
    later = StoredEvent(
        originator_id=stored_v1.originator_id,
        originator_version=stored_v1.originator_version,
        topic=get_topic(AssessedOnAScale),
        state=stored_v1.state,
    )
    loaded = mapper.to_domain_event(later)
    assert isinstance(loaded, AssessedOnAScale)
    assert (loaded.rung, loaded.scale) == (3, "participatieladder-2011")
    # written again, it says which version of the class it is
    assert orjson.loads(mapper.to_stored_event(loaded).state)["class_version"] == 2


def test_no_event_class_derives_from_another():
    # the rules tell a fact's kind by its class (``type(event) is ev.Housed``, ``type(event)
    # in ev.CONTROL_EVENTS``) rather than the models' slower isinstance: a class derived from
    # another event class would not be taken for it
    for cls in ev.EVENT_CLASSES:
        assert not [
            other for other in ev.EVENT_CLASSES if other is not cls and issubclass(cls, other)
        ]


@pytest.mark.parametrize("cls", ev.EVENT_CLASSES, ids=sample_ids)
def test_an_event_is_stored_as_its_own_fields_so_none_may_be_serialised_otherwise(cls):
    # the mapper stores a model's own fields (its ``__dict__``) rather than pydantic's dump of
    # them: a field left out of the dump, renamed in it, or written by a serializer of its own
    # would be stored otherwise than the model says, so no event class may have one
    decorators = cls.__pydantic_decorators__
    assert not decorators.field_serializers and not decorators.model_serializers
    for name, field in cls.model_fields.items():
        assert not field.exclude, f"{cls.__name__}.{name} is excluded from the dump"
        assert field.serialization_alias in (None, name), f"{cls.__name__}.{name} is renamed"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_a_stored_state_is_what_pydantic_would_dump(path, mapper):
    event = mapper.to_domain_event(load_sample(path))
    if sample_version(path) != type(event).class_version:
        return  # an older version is stored again as the current one (the test above)
    state = orjson.loads(mapper.to_stored_event(event).state)
    # (a sample holds no personal field: those are encrypted apart, and absent here)
    columns = {"originator_id", "originator_version"}
    dumped = event.model_dump(mode="json", exclude=columns | type(event).personal_fields())
    dumped = {k: v for k, v in dumped.items() if not (k == "imported_by" and v is None)}
    state.pop("class_version", None)
    assert state == dumped
