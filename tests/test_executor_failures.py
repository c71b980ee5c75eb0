"""Executors that fail: only "it did not happen" (`ActionNotPerformed`) lets a retry run the action.

The shipped SMTP sink against a real SMTP conversation on a loopback socket: a server that refuses
the message (nothing sent: a retry may send it), and one that takes the whole message and hangs up
before it answers (it may have gone: never sent again by the gate).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from gated_flows import new_flow_run_id

from prefect_review_gate.flows.common.smtp import send_email_smtp
from prefect_review_gate.gates import Executors, Outcome, ReviewVerdict, SendEmail, commit, content_hash
from prefect_review_gate.gates.errors import ActionNotPerformed, CommitInterrupted, DeliveryFailed

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]


class ScriptedSmtp:
    """An SMTP server on 127.0.0.1 that answers the end of DATA as `ending` says, and counts messages.

    ending: "250" takes it; "554" refuses it; "hang-up" reads it whole and closes without a word.
    """

    def __init__(self) -> None:
        self.ending = "250"
        self.received = 0  # messages read to their final dot, whatever the answer
        self.port = 0
        self._loop = asyncio.new_event_loop()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250 scripted\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                while (await reader.readline()) != b".\r\n":
                    pass
                self.received += 1
                if self.ending == "hang-up":
                    writer.close()
                    return
                writer.write(b"250 queued\r\n" if self.ending == "250" else b"554 refused\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp()
    server.start()
    monkeypatch.setenv("REVIEW_GATE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REVIEW_GATE_SMTP_PORT", str(server.port))
    monkeypatch.setenv("REVIEW_GATE_SMTP_FROM", "agent@agency.example")
    yield server
    server.stop()


EXECUTORS = Executors({"email.send": send_email_smtp})


async def _approved_email() -> ReviewVerdict:
    actions: list[Any] = [SendEmail(to=["ana@client.example"], subject=uuid.uuid4().hex, body="Hello.")]
    return ReviewVerdict(
        review_id=uuid.uuid4().hex[:12],
        outcome=Outcome.APPROVED,
        content_hash=content_hash(actions),
        actions=actions,
        flow_run_id=await new_flow_run_id(),
    )


async def test_a_message_the_server_refused_is_sent_by_the_retry(smtp: ScriptedSmtp) -> None:
    verdict = await _approved_email()
    smtp.ending = "554"
    with pytest.raises(ActionNotPerformed, match="did not take the e-mail"):
        await commit(verdict, executors=EXECUTORS)

    smtp.ending = "250"
    report = await commit(verdict, executors=EXECUTORS)
    assert not report.outcomes[0].replayed
    assert smtp.received == 2  # the refused one, and the one that went


async def test_a_message_cut_off_after_the_server_read_it_is_never_sent_again(smtp: ScriptedSmtp) -> None:
    verdict = await _approved_email()
    smtp.ending = "hang-up"
    with pytest.raises(DeliveryFailed, match="may have gone") as raised:
        await commit(verdict, executors=EXECUTORS)
    assert not isinstance(raised.value, ActionNotPerformed)

    smtp.ending = "250"
    for _ in range(2):  # however often the flow is retried
        with pytest.raises(CommitInterrupted, match="outcome was never recorded"):
            await commit(verdict, executors=EXECUTORS)
    assert smtp.received == 1


async def test_an_unreachable_server_sent_nothing_and_the_retry_sends_it(
    smtp: ScriptedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    verdict = await _approved_email()
    monkeypatch.setenv("REVIEW_GATE_SMTP_PORT", "1")  # nothing listens there
    with pytest.raises(ActionNotPerformed, match="could not be reached"):
        await commit(verdict, executors=EXECUTORS)
    monkeypatch.setenv("REVIEW_GATE_SMTP_PORT", str(smtp.port))
    await commit(verdict, executors=EXECUTORS)
    assert smtp.received == 1
