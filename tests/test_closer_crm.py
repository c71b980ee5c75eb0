"""CLOSER's CRM backends against real things: a SQLite file, and the HubSpot client over HTTP to a fake.

The same behaviour is asked of both: the seeded demo pipeline reads back alike, and every write is
idempotent by its key (a retried commit creates no second note or contact, and rewrites no deal).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hubspot_fake import TOKEN, HubSpotFake, seed_demo
from pydantic import SecretStr

from prefect_review_gate.flows.closer.crm.hubspot import KEY_PROPERTY, HubSpotCrm
from prefect_review_gate.flows.closer.crm.model import Crm, CrmConflict, CrmError, CrmMissing
from prefect_review_gate.flows.closer.crm.seed import seed
from prefect_review_gate.flows.closer.crm.sqlite import SqliteCrm

DAY_AGO = datetime.now(UTC) - timedelta(days=1)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[HubSpotFake]:
    with HubSpotFake(page_size=1) as server:  # one record per page: every read pages
        seed_demo(server)
        yield server


def _hubspot(fake: HubSpotFake, sleep: Sleeps | None = None, **options: float) -> HubSpotCrm:
    return HubSpotCrm(fake.url, SecretStr(TOKEN), sleep=Sleeps() if sleep is None else sleep, **options)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "hubspot"])
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Crm]:
    if request.param == "sqlite":
        yield seed(tmp_path / "crm.sqlite")
        return
    with HubSpotFake(page_size=1) as server:
        seed_demo(server)
        client = _hubspot(server)
        yield client
        client.close()


def test_the_demo_pipeline_reads_back_alike(crm: Crm) -> None:
    assert crm.stages()[:2] == ["appointmentscheduled", "qualifiedtobuy"]
    assert [d.id for d in crm.changed_deals(DAY_AGO, 10)] == ["1001", "1002"]
    assert [d.id for d in crm.changed_deals(DAY_AGO, 1)] == ["1001"]
    snapshot = crm.snapshot("1001")
    assert snapshot is not None
    assert snapshot.deal.stage == "decisionmakerboughtin" and snapshot.deal.amount == 48000
    assert [c.email for c in snapshot.contacts] == [
        "ana.ruiz@northwind.example",
        "tom.becker@northwind.example",
    ]
    assert snapshot.company is not None and snapshot.company.name == "Northwind Traders"
    assert [n.id for n in snapshot.notes] == ["5001", "5002", "5003"]
    assert crm.snapshot("1099") is None
    assert set(crm.contacts_by_email(["priya@bluefin.example", "nobody@bluefin.example"])) == {
        "priya@bluefin.example"
    }
    assert set(crm.deals(["1001", "1099"])) == {"1001"}


def test_a_retried_write_duplicates_nothing(crm: Crm) -> None:
    first = crm.log_note("1001", "Contract sent [note-5003].", "review-1:1:abc")
    again = crm.log_note("1001", "Contract sent [note-5003].", "review-1:1:abc")
    assert first.written and not again.written and again.record == first.record
    snapshot = crm.snapshot("1001")
    assert snapshot is not None and [n.body for n in snapshot.notes].count("Contract sent [note-5003].") == 1

    made = crm.create_contact("Lena Ortiz", "lena@northwind.example", "301", "review-1:2:abc")
    remade = crm.create_contact("Lena Ortiz", "lena@northwind.example", "301", "review-1:2:abc")
    assert made.written and not remade.written and remade.record == made.record
    assert set(crm.contacts_by_email(["lena@northwind.example"])) == {"lena@northwind.example"}

    before = {"stage": "decisionmakerboughtin"}
    moved = crm.update_deal("1001", {"stage": "contractsent"}, before, "review-1:0:abc")
    moved_again = crm.update_deal("1001", {"stage": "contractsent"}, before, "review-1:0:abc")
    assert moved.written and "contractsent" in moved.detail and not moved_again.written
    assert crm.deals(["1001"])["1001"].stage == "contractsent"


def test_a_deal_changed_since_the_review_is_not_overwritten(crm: Crm) -> None:
    crm.update_deal("1002", {"amount": 20000}, {}, "someone-else")
    with pytest.raises(CrmConflict, match="is now 20000"):
        crm.update_deal("1002", {"amount": 25000}, {"amount": 18500}, "review-2:0:abc")
    assert crm.deals(["1002"])["1002"].amount == 20000


def test_contacts_of_a_deal_are_set_as_reviewed(crm: Crm) -> None:
    result = crm.update_deal("1001", {"contact_ids": ["2001"]}, {"contact_ids": ["2001", "2002"]}, "k")
    assert result.written
    assert crm.deals(["1001"])["1001"].contact_ids == ("2001",)


def test_writes_to_records_that_do_not_exist_are_refused(crm: Crm) -> None:
    with pytest.raises(CrmMissing, match="no deal 1099"):
        crm.log_note("1099", "Renewal confirmed.", "k1")
    with pytest.raises(CrmMissing, match="no company 399"):
        crm.create_contact("Ann Example", "ann@example.org", "399", "k2")
    with pytest.raises(CrmMissing, match="no stage 'won'"):
        crm.update_deal("1001", {"stage": "won"}, {}, "k3")


def test_hubspot_notes_carry_the_key_and_their_deal(fake: HubSpotFake) -> None:
    client = _hubspot(fake)
    result = client.log_note("1002", "Pilot terms sent.", "review-9:0:def")
    [created] = fake.calls("POST", "/crm/v3/objects/notes")
    assert created["properties"][KEY_PROPERTY] == "review-9:0:def"
    assert created["associations"][0]["types"] == [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}
    ]
    assert result.record.removeprefix("note ") in fake.linked("deals", "1002", "notes")


def test_hubspot_429_is_waited_out_honouring_retry_after_with_a_cap(fake: HubSpotFake) -> None:
    sleeps = Sleeps()
    client = _hubspot(fake, sleeps, max_wait=5.0)
    fake.throttle("2", "3600")
    assert client.stages()[0] == "appointmentscheduled"
    assert sleeps == [2.0, 5.0]  # as told, then capped: an hour-long header does not stall a run

    fake.throttle(*["1"] * 10)
    with pytest.raises(CrmError, match="kept rate limiting"):
        _hubspot(fake, Sleeps(), retries=2).stages()


def test_hubspot_refuses_a_bad_token_in_words(fake: HubSpotFake) -> None:
    client = HubSpotCrm(fake.url, SecretStr("pat-wrong"), sleep=Sleeps())
    with pytest.raises(CrmError, match="refused the access token") as caught:
        client.stages()
    assert "pat-wrong" not in str(caught.value)


def test_a_missing_sqlite_file_is_not_silently_created(tmp_path: Path) -> None:
    with pytest.raises(CrmError, match="no CRM database"):
        SqliteCrm.open(tmp_path / "typo.sqlite")
    assert not (tmp_path / "typo.sqlite").exists()
