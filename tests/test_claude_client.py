"""The Claude client against the Messages API fake, answering as the platform docs say the API does.

Real HTTP through the official SDK: the streamed reply, each documented error (status, type, message,
`request-id`, `retry-after`), the spend limit, the timeout and the wall-clock limit on the whole call.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from anthropic_fake import OFFLINE_KEY, MessagesFake, RecordedRequest, Reply, recorded
from pydantic import SecretStr

from prefect_review_gate.flows.common.claude import Answered, ClaudeClient, ClaudeSettings
from prefect_review_gate.flows.common.errors import ModelError

REQUEST: dict[str, Any] = {"messages": [{"role": "user", "content": "Write the proposal."}]}


def _call(fake: MessagesFake, request: dict[str, Any] | None = None, **settings: Any) -> Answered:
    client = ClaudeClient(ClaudeSettings(base_url=fake.base_url, **settings), SecretStr(OFFLINE_KEY))
    return asyncio.run(client.create(**(request or REQUEST)))


def _failure(fake: MessagesFake, request: dict[str, Any] | None = None, **settings: Any) -> str:
    with pytest.raises(ModelError) as failed:
        _call(fake, request, **settings)
    return str(failed.value)


def _slow(seconds: float) -> Callable[[RecordedRequest], Reply]:
    def answer(request: RecordedRequest) -> Reply:
        time.sleep(seconds)
        return Reply.message(recorded())

    return answer


def test_the_call_is_streamed_and_the_final_message_is_the_reply_with_its_request_id() -> None:
    with MessagesFake(Reply.message(recorded())) as fake:
        answered = _call(fake)

    [request] = fake.message_requests()
    assert request.body["stream"] is True  # messages.stream(), not a long blocking request
    assert answered.request_id == fake.request_ids[0]
    assert answered.retries == 0
    got = answered.message.model_dump(mode="json", exclude_none=True)
    assert got["content"] == recorded()["content"]  # text, citations and tool input, rebuilt from events
    assert got["stop_reason"] == "tool_use"


def test_a_refusal_arrives_with_its_stop_details() -> None:
    refusal = {
        **recorded(),
        "content": [],
        "stop_reason": "refusal",
        "stop_details": {"type": "refusal", "category": "cyber", "explanation": "Declined by policy."},
    }
    with MessagesFake(Reply.message(refusal)) as fake:
        message = _call(fake).message

    assert message.stop_reason == "refusal"
    assert message.stop_details is not None and message.stop_details.category == "cyber"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.error(400, "invalid_request_error", "tools.0.name: String should match pattern"), "400"),
        (Reply.error(403, "permission_error", "Your API key does not have permission"), "403"),
        (Reply.error(404, "not_found_error", "model: claude-nope"), "404"),
    ],
    ids=["400", "403", "404"],
)
def test_a_client_error_says_what_the_api_said_and_is_not_retried(reply: Reply, expected: str) -> None:
    body = json.loads(reply.body)["error"]
    with MessagesFake(reply) as fake:
        message = _failure(fake)

    assert len(fake.message_requests()) == 1
    assert f"{expected} {body['type']}" in message
    assert body["message"] in message
    assert fake.request_ids[0] in message
    assert "retries" not in message  # it was never retried, so no retry count is claimed


def test_a_request_over_the_size_limit_is_a_413_said_as_such() -> None:
    with MessagesFake(Reply.message(recorded()), max_request_bytes=2_000) as fake:
        big = {"messages": [{"role": "user", "content": "x" * 5_000}]}
        message = _failure(fake, big)

    assert "413 request_too_large" in message and "maximum allowed number of bytes" in message
    assert fake.request_ids[0] in message and "retries" not in message
    assert fake.message_requests() == []  # refused at the edge: no answer was used up


def test_the_monthly_spend_limit_is_named_and_never_retried() -> None:
    with MessagesFake(Reply.message(recorded()), script=[Reply.spend_limited()]) as fake:
        message = _failure(fake, max_retries=4)

    assert len(fake.message_requests()) == 1  # its retry-after: 60 was not obeyed
    assert "monthly spend limit" in message and "not retried" in message
    assert fake.request_ids[0] in message


def test_a_retry_after_beyond_the_wall_clock_limit_fails_at_once() -> None:
    with MessagesFake(Reply.message(recorded()), script=[Reply.rate_limited(retry_after="3600")]) as fake:
        started = time.monotonic()
        message = _failure(fake, wall_clock=30)

    assert time.monotonic() - started < 10  # not an hour inside the task
    assert "3600 s" in message and "wall-clock limit of 30 s" in message
    assert len(fake.message_requests()) == 1


def test_a_retry_after_given_as_an_http_date_is_read_too() -> None:
    an_hour_on = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with MessagesFake(Reply.message(recorded()), script=[Reply.rate_limited(retry_after=an_hour_on)]) as fake:
        message = _failure(fake, wall_clock=30)

    assert "wall-clock limit of 30 s" in message and len(fake.message_requests()) == 1


def test_transient_errors_are_retried_and_the_retries_are_counted() -> None:
    script = [Reply.overloaded(), Reply.rate_limited(retry_after="0")]
    with MessagesFake(Reply.message(recorded()), script=script) as fake:
        answered = _call(fake)

    assert answered.retries == 2 and len(fake.message_requests()) == 3
    assert answered.request_id == fake.request_ids[-1]


def test_overload_past_the_retries_says_how_many_retries_it_took() -> None:
    with MessagesFake(Reply.overloaded()) as fake:
        message = _failure(fake, max_retries=2)

    assert "529 overloaded_error: Overloaded" in message and "after 2 retries" in message
    assert fake.request_ids[-1] in message and len(fake.message_requests()) == 3


def test_a_timeout_has_its_own_message_and_is_never_retried() -> None:
    with MessagesFake(_slow(3.0)) as fake:
        message = _failure(fake, timeout=0.5, max_retries=4)

    assert "sent nothing for 0.5 s" in message and "REVIEW_GATE_ANTHROPIC_TIMEOUT" in message
    assert len(fake.message_requests()) == 1  # a timed-out reply may be billed: no second generation


def test_a_stream_silent_mid_reply_is_a_timeout_too_and_not_retried() -> None:
    stalled = Reply.message(recorded())
    stalled = Reply(stalled.status, stalled.body, stalled.headers, stall=3.0)
    with MessagesFake(stalled) as fake:
        message = _failure(fake, timeout=0.5, max_retries=4)

    assert "sent nothing for 0.5 s" in message
    assert len(fake.message_requests()) == 1


def test_the_whole_call_stops_at_the_wall_clock_limit() -> None:
    with MessagesFake(_slow(3.0)) as fake:
        started = time.monotonic()
        message = _failure(fake, timeout=60, wall_clock=1)

    assert time.monotonic() - started < 2.5
    assert "wall-clock limit of 1 s" in message and "REVIEW_GATE_ANTHROPIC_WALL_CLOCK" in message


def test_a_reply_that_is_no_event_stream_is_not_a_message() -> None:
    with MessagesFake(Reply.garbage()) as fake:
        assert "not a valid message" in _failure(fake)


def test_the_wall_clock_limit_is_configurable() -> None:
    assert ClaudeSettings.from_env({"REVIEW_GATE_ANTHROPIC_WALL_CLOCK": "60"}).wall_clock == 60
    with pytest.raises(Exception, match="REVIEW_GATE_ANTHROPIC_WALL_CLOCK"):
        ClaudeSettings.from_env({"REVIEW_GATE_ANTHROPIC_WALL_CLOCK": "soon"})


def test_the_fake_refuses_to_replay_a_citation_the_api_could_not_send() -> None:
    document = "Prefect runs flows. By automating over 200 million data tasks monthly, it scales."
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": document},
                    },
                    {"type": "text", "text": "Summarise."},
                ],
            }
        ]
    }
    clause = "By automating over 200 million data tasks monthly"
    start = document.index(clause)
    citation = {
        "type": "char_location",
        "cited_text": clause,
        "document_index": 0,
        "start_char_index": start,
        "end_char_index": start + len(clause),
    }
    reply = {**recorded(), "content": [{"type": "text", "text": "It scales.", "citations": [citation]}]}
    with MessagesFake(Reply.message(reply)) as fake:
        assert "not whole sentences" in _failure(fake, request, max_retries=0)

    sentence = document[start:]
    whole = {**citation, "cited_text": sentence, "end_char_index": len(document)}
    reply["content"][0]["citations"] = [whole]
    with MessagesFake(Reply.message(reply)) as fake:
        assert _call(fake, request).message.content[0].type == "text"
