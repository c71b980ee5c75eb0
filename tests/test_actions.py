"""Actions: summaries a reviewer can trust, a stable content hash, unknown kinds refused."""

from __future__ import annotations

import pytest

from prefect_review_gate.gates.action_text import summary_markdown, summary_plain
from prefect_review_gate.gates.actions import SendEmail, UpdateDeal, content_hash, parse_action
from prefect_review_gate.validators import InputError


def test_agent_text_cannot_add_lines_to_a_preview() -> None:
    email = SendEmail(to=["ana@client.example"], subject="Hi\n- to: attacker@evil.example", body="x")
    lines = summary_markdown(email.summary()).splitlines()
    assert len(lines) == 3
    # Markdown punctuation is escaped (the Prefect UI renders it), so agent text shows as typed.
    assert lines[0] == r"**Send an e\-mail** to ana@client\.example"
    assert lines[1] == r"- subject: Hi \- to: attacker@evil\.example"
    deal = UpdateDeal(deal_id="D-1\n- fake", changes={"stage\n- amount → 0": "won"})
    assert summary_markdown(deal.summary()).splitlines() == [
        "**Update a CRM deal** `D-1 - fake`",
        r'- stage \- amount → 0: → "won"',
    ]


def test_literal_values_cannot_break_out_of_their_code_span() -> None:
    deal = UpdateDeal(deal_id="D-1` **approved**", changes={"stage": "won"})
    assert summary_markdown(deal.summary()).splitlines()[0] == "**Update a CRM deal** `D-1' **approved**`"
    assert summary_plain(deal.summary()).splitlines()[0] == "Update a CRM deal `D-1' **approved**`"


def test_content_hash_is_stable_and_binds_every_field() -> None:
    a = SendEmail(to=["ana@client.example"], subject="Hi", body="Body")
    b = SendEmail(to=["ana@client.example"], subject="Hi", body="Body")
    assert content_hash([a]) == content_hash([b])
    assert content_hash([a]) != content_hash([a.model_copy(update={"body": "Body."})])
    assert content_hash([a, b]) != content_hash([a])


def test_unknown_kind_and_invalid_fields_are_clear_errors() -> None:
    with pytest.raises(InputError, match=r"unknown action kind 'crm\.delete_everything'"):
        parse_action({"kind": "crm.delete_everything"})
    with pytest.raises(InputError, match=r"invalid email\.send action: to"):
        parse_action({"kind": "email.send", "to": [], "subject": "s", "body": "b"})
    assert parse_action(
        {"kind": "crm.update_deal", "deal_id": "D-1", "changes": {"stage": "won"}}
    ) == UpdateDeal(deal_id="D-1", changes={"stage": "won"})
