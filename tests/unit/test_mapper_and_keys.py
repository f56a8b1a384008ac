"""Encryption of personal fields per stream, the master key, and the keyed BSN index."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, date, datetime
from uuid import uuid4

import orjson
import pytest
from builders import MemoryKeyStore
from eventsourcing.persistence import StoredEvent

from ledger import events as ev
from ledger.crypto import (
    KeyRing,
    encode_master_key,
    generate_master_key,
    parse_master_key,
    read_key_file,
    write_key_file,
)
from ledger.errors import ErasedError, MalformedEventError, MasterKeyError
from ledger.persistence import PII_KEY, PydanticMapper, names_uuid
from ledger.values import StaffRole
from projections.caseload import CASELOAD

NAME = "Zoë Testpersoon-Verzonnen"


def registration(person_id=None, version=1, **personal):
    return ev.PersonRegistered(
        originator_id=person_id or uuid4(),
        originator_version=version,
        timestamp=datetime(2024, 1, 10, 9, tzinfo=UTC),
        occurred_on=date(2024, 1, 10),
        recorded_by="t.tester",
        municipality="GM0622",
        birth_date=date(1990, 4, 2),
        sex="f",
        nationality=("SY",),
        **personal,
    )


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def mapper(store) -> PydanticMapper:
    mapper = PydanticMapper()
    mapper.keyring = KeyRing(generate_master_key(), store)
    return mapper


def test_personal_fields_are_stored_only_inside_the_encrypted_blob(mapper):
    event = registration(name=NAME, bsn="123456782", v_number="1234567890")
    stored = mapper.to_stored_event(event)
    state = orjson.loads(stored.state)
    # the public part keeps the facts, the blob holds the personal fields
    assert {"name", "bsn", "v_number"}.isdisjoint(state)
    assert state["birth_date"] == "1990-04-02"
    assert PII_KEY in state
    for value in (NAME.encode(), b"123456782", b"1234567890"):
        assert value not in stored.state
    assert mapper.to_domain_event(stored) == event


def test_an_event_without_personal_values_needs_no_data_key(store, mapper):
    stored = mapper.to_stored_event(registration())
    assert PII_KEY not in orjson.loads(stored.state)
    assert store.wrapped == {}


def test_each_stream_gets_its_own_data_key(store, mapper):
    mapper.to_stored_event(registration(name=NAME))
    mapper.to_stored_event(registration(name=NAME))
    assert len(store.wrapped) == 2
    assert len(set(store.wrapped.values())) == 2


def test_a_mapper_without_a_key_ring_refuses_to_store_personal_fields():
    with pytest.raises(RuntimeError, match="no key ring"):
        PydanticMapper().to_stored_event(registration(name=NAME))


def tampered(stored: StoredEvent, **changes) -> StoredEvent:
    fields = {
        "originator_id": stored.originator_id,
        "originator_version": stored.originator_version,
        "topic": stored.topic,
        "state": stored.state,
    }
    return StoredEvent(**(fields | changes))


def test_an_altered_ciphertext_is_detected(mapper):
    stored = mapper.to_stored_event(registration(name=NAME))
    state = orjson.loads(stored.state)
    blob = bytearray(base64.b64decode(state[PII_KEY]))
    blob[-1] ^= 1
    state[PII_KEY] = base64.b64encode(bytes(blob)).decode()
    with pytest.raises(MalformedEventError, match=r"its personal fields \(_pii\) do not decrypt"):
        mapper.to_domain_event(tampered(stored, state=orjson.dumps(state)))


def test_a_blob_moved_to_another_version_of_the_stream_does_not_decrypt(mapper):
    # the stream id, version and topic are the associated data of the encryption
    stored = mapper.to_stored_event(registration(name=NAME))
    with pytest.raises(MalformedEventError, match=r"its personal fields \(_pii\) do not decrypt"):
        mapper.to_domain_event(tampered(stored, originator_version=2))


def test_after_shredding_personal_fields_read_as_none_and_the_rest_stays(store, mapper):
    event = registration(name=NAME, bsn="123456782")
    stored = mapper.to_stored_event(event)
    mapper.keyring.shred(event.originator_id)
    loaded = mapper.to_domain_event(stored)
    assert (loaded.name, loaded.bsn) == (None, None)
    assert loaded.birth_date == event.birth_date
    # a fresh key ring over the same store agrees
    fresh = PydanticMapper()
    fresh.keyring = KeyRing(generate_master_key(), store)
    assert fresh.to_domain_event(stored).name is None


def test_no_new_personal_data_can_be_written_to_a_shredded_stream(mapper):
    event = registration(name=NAME)
    mapper.to_stored_event(event)
    mapper.keyring.shred(event.originator_id)
    with pytest.raises(ErasedError, match="has been erased"):
        mapper.to_stored_event(registration(event.originator_id, version=2, name="Nieuw"))


def test_a_data_key_does_not_open_with_another_master_key(store, mapper):
    event = registration(name=NAME)
    stored = mapper.to_stored_event(event)
    other = PydanticMapper()
    other.keyring = KeyRing(generate_master_key(), store)
    with pytest.raises(MasterKeyError, match="does not open with this master key"):
        other.to_domain_event(stored)


def test_the_bsn_digest_is_keyed_by_the_master_key():
    key = generate_master_key()
    first = KeyRing(key, MemoryKeyStore())
    again = KeyRing(key, MemoryKeyStore())
    other = KeyRing(generate_master_key(), MemoryKeyStore())
    assert first.bsn_digest("123456782") == again.bsn_digest("123456782")
    assert first.bsn_digest("123456782") != other.bsn_digest("123456782")
    assert "123456782" not in first.bsn_digest("123456782")
    assert first.check_value == again.check_value != other.check_value


def test_a_master_key_is_32_bytes():
    with pytest.raises(MasterKeyError, match="32 bytes"):
        KeyRing(b"short", MemoryKeyStore())


def test_a_master_key_is_read_as_base64_or_hex():
    key = generate_master_key()
    assert parse_master_key(encode_master_key(key), "env") == key
    assert parse_master_key(key.hex(), "env") == key
    for text in ("", "not a key", base64.urlsafe_b64encode(b"x" * 16).decode(), "zz" * 32):
        with pytest.raises(MasterKeyError, match="env: the master key must be 32 bytes"):
            parse_master_key(text, "env")


def test_a_key_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "traject.key"
    key = generate_master_key()
    write_key_file(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == key
    with pytest.raises(MasterKeyError, match="already exists"):
        write_key_file(path, generate_master_key())
    assert read_key_file(path) == key


def test_a_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(MasterKeyError, match="traject init"):
        read_key_file(tmp_path / "missing.key")


def test_a_staff_name_stored_in_capitals_reads_in_lower_case(mapper):
    """An earlier release kept a member of staff's user name as typed; it reads as the ledger
    keeps staff names now (lower case), in the rules and in the caseload read model alike."""
    event = ev.CoachAssigned.model_construct(
        originator_id=uuid4(),
        originator_version=2,
        timestamp=datetime(2024, 1, 10, 9, tzinfo=UTC),
        occurred_on=date(2024, 1, 10),
        recorded_by="t.tester",
        municipality="GM0622",
        staff_id="R.Jansen",
        role=StaffRole.REGISSEUR,
    )  # as the earlier release's model let it through
    stored = mapper.to_stored_event(event)
    assert orjson.loads(stored.state)["staff_id"] == "R.Jansen"

    read = mapper.to_domain_event(stored)
    assert isinstance(read, ev.CoachAssigned)
    assert read.staff_id == "r.jansen"
    payload = orjson.loads(stored.state)
    assert CASELOAD.fact_values("CoachAssigned", payload) == (
        "coach:regisseur:r.jansen",
        "assigned",
    )


@pytest.mark.parametrize("written", ["hyphenated", "hex", "upper", "braces", "urn"])
def test_a_stored_fact_names_a_uuid_in_any_way_it_is_written(written):
    wanted = uuid4()
    text = {
        "hyphenated": str(wanted),
        "hex": wanted.hex,
        "upper": str(wanted).upper(),
        "braces": "{" + str(wanted) + "}",
        "urn": wanted.urn,
    }[written]
    state = orjson.dumps({"changes": {"household_id": text}, "target_version": 1})
    assert names_uuid(state, wanted)
    assert not names_uuid(state, uuid4())
