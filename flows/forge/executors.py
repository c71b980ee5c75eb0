"""What FORGE's approved actions run: the folder sink (its own) and the shared SMTP sink."""

from __future__ import annotations

import hashlib
import os

from prefect_review_gate.flows.common.smtp import send_email_smtp
from prefect_review_gate.flows.forge.actions import PublishProposalFile
from prefect_review_gate.gates.errors import ActionNotPerformed
from prefect_review_gate.gates.executors import Executors

__all__ = ["agent_executors", "publish_file"]


def publish_file(action: PublishProposalFile, idempotency_key: str) -> dict[str, str]:
    """Write the file atomically. An existing file with other content is never overwritten.

    Every failure is `ActionNotPerformed`: the file appears whole (`os.replace`) or not at all.
    """
    target = action.path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if target.read_text(encoding="utf-8") == action.body:
                return {"path": str(target), "note": "already published with this content"}
            raise ActionNotPerformed(
                f"{target} already exists with other content; move it away or choose another name"
            )
        partial = target.with_name(
            f".{target.name}.{hashlib.sha256(idempotency_key.encode()).hexdigest()[:8]}"
        )
        partial.write_text(action.body, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        raise ActionNotPerformed(f"could not write {target}: {exc.strerror}") from None
    return {"path": str(target)}


def agent_executors() -> Executors:
    """FORGE's executors, for `commit`: a new registry each call, so no caller changes another's."""
    return Executors({"proposal.publish_file": publish_file, "email.send": send_email_smtp})
