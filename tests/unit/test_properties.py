"""Property: every event kind round-trips through the PydanticMapper, personal fields encrypted."""

from __future__ import annotations

import base64
from datetime import timedelta, timezone

import orjson
import pytest
from builders import MemoryKeyStore
from hypothesis import given
from hypothesis import strategies as st
from strategies import events_of

from ledger import events as ev
from ledger.crypto import KeyRing, generate_master_key
from ledger.persistence import OMITTED_WHEN_NONE, PII_KEY, PydanticMapper, pii_aad

KEYS = KeyRing(generate_master_key(), MemoryKeyStore())
MAPPER = PydanticMapper()
MAPPER.keyring = KEYS


def public_state(stored) -> dict:
    state = orjson.loads(stored.state)
    state.pop(PII_KEY, None)
    return state


@pytest.mark.parametrize("cls", ev.EVENT_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_every_event_kind_round_trips_through_the_mapper(cls, data):
    event = data.draw(events_of(cls), label=cls.__name__)
    # dump → load gives the same event
    stored = MAPPER.to_stored_event(event)
    loaded = MAPPER.to_domain_event(stored)
    assert loaded == event
    assert type(loaded) is cls
    # dump again: the public state is byte-stable; the personal blob gets a fresh nonce but
    # decrypts to the same values
    again = MAPPER.to_stored_event(loaded)
    assert (again.topic, again.originator_id, again.originator_version) == (
        stored.topic,
        stored.originator_id,
        stored.originator_version,
    )
    assert public_state(again) == public_state(stored)
    assert MAPPER.decode_state(again) == MAPPER.decode_state(stored)
    # personal fields never appear as keys of the stored state; if any is set, a blob does
    state = orjson.loads(stored.state)
    present = {name for name in cls.personal_fields() if getattr(event, name) is not None}
    assert not cls.personal_fields() & set(state)
    assert (PII_KEY in state) == bool(present)


@pytest.mark.parametrize("cls", ev.EVENT_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_the_stored_state_is_pydantics_json_of_the_event_byte_for_byte(cls, data):
    """The mapper writes the fields' Python values with orjson (faster); the bytes must be those
    of pydantic's JSON mode of the event written with sorted keys, as they were first stored."""
    event = data.draw(events_of(cls), label=cls.__name__)
    # an imported recorded time keeps the offset it was given (+01:00, -03:30, Z, …)
    minutes = data.draw(st.integers(-14 * 60, 14 * 60), label="offset")
    moment = event.timestamp.astimezone(timezone(timedelta(minutes=minutes)))
    event = event.model_copy(update={"timestamp": moment})
    stored = MAPPER.to_stored_event(event)
    expected = event.model_dump(mode="json", exclude={"originator_id", "originator_version"})
    for name in OMITTED_WHEN_NONE:  # envelope fields added later: absent ones are not stored
        if expected[name] is None:
            del expected[name]
    personal = {k: expected.pop(k) for k in sorted(cls.personal_fields())}
    personal = {k: v for k, v in personal.items() if v is not None}
    state = orjson.loads(stored.state)
    if PII_KEY in state:
        expected[PII_KEY] = state[PII_KEY]  # the ciphertext: a fresh nonce each time
    if cls.class_version > 1:
        expected["class_version"] = cls.class_version
    assert stored.state == orjson.dumps(expected, option=orjson.OPT_SORT_KEYS)
    if personal:
        blob = base64.b64decode(state[PII_KEY])
        aad = pii_aad(event.originator_id, event.originator_version, stored.topic)
        plain = KEYS.decrypt(KEYS.key_for_read(event.originator_id), blob, aad)
        assert plain == orjson.dumps(personal, option=orjson.OPT_SORT_KEYS)
