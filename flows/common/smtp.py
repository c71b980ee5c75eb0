"""The e-mail sink any agent may use: `email.send` (`SendEmail`, a generic kind) through SMTP.

An agent's flow adds `send_email_smtp` to its own `Executors`; the recipients are part of the
action, so reviewers see where the message goes before they approve.

SMTP settings come from the environment:

    REVIEW_GATE_SMTP_HOST, REVIEW_GATE_SMTP_PORT (default 25), REVIEW_GATE_SMTP_FROM,
    REVIEW_GATE_SMTP_USERNAME, REVIEW_GATE_SMTP_PASSWORD (optional, both or neither),
    REVIEW_GATE_SMTP_STARTTLS (1 to upgrade the connection before logging in)
"""

from __future__ import annotations

import hashlib
import os
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prefect_review_gate.gates.actions import SendEmail
from prefect_review_gate.gates.errors import ActionNotPerformed, DeliveryFailed
from prefect_review_gate.validators.errors import InputError

__all__ = ["SmtpSettings", "send_email_smtp"]


class SmtpSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    sender: str = Field(min_length=3, description="The From address.")
    username: str | None = Field(default=None, description="Login name, when the server needs one.")
    password: SecretStr | None = Field(default=None, description="Login password.")
    starttls: bool = Field(default=False, description="Upgrade to TLS before logging in.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        env = os.environ if environ is None else environ
        host = env.get("REVIEW_GATE_SMTP_HOST", "").strip()
        sender = env.get("REVIEW_GATE_SMTP_FROM", "").strip()
        if not host or not sender:
            raise InputError("e-mail publishing needs REVIEW_GATE_SMTP_HOST and REVIEW_GATE_SMTP_FROM")
        port = env.get("REVIEW_GATE_SMTP_PORT", "").strip() or "25"
        if not port.isdigit():
            raise InputError(f"REVIEW_GATE_SMTP_PORT must be a port number, not {port!r}")
        password = env.get("REVIEW_GATE_SMTP_PASSWORD", "")
        try:
            return cls(
                host=host,
                port=int(port),
                sender=sender,
                username=env.get("REVIEW_GATE_SMTP_USERNAME", "").strip() or None,
                password=SecretStr(password) if password else None,
                starttls=env.get("REVIEW_GATE_SMTP_STARTTLS", "").strip() in {"1", "true", "yes"},
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(f"SMTP settings: {where}: {first['msg']}") from None


def send_email_smtp(action: SendEmail, idempotency_key: str) -> dict[str, str]:
    """Send through SMTP. The Message-ID derives from the idempotency key, so a receiving system can
    drop a duplicate if a crash mid-send ever made a person resend."""
    settings = SmtpSettings.from_env()
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(action.to)
    if action.cc:
        message["Cc"] = ", ".join(action.cc)
    message["Subject"] = action.subject
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@review-gate>"
    message.set_content(action.body)
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=30)
    except (OSError, smtplib.SMTPException) as exc:
        raise ActionNotPerformed(f"{where} could not be reached; nothing was sent: {exc}") from None
    with smtp:
        try:
            if settings.starttls:
                smtp.starttls()
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password.get_secret_value())
        except (OSError, smtplib.SMTPException) as exc:
            raise ActionNotPerformed(f"{where} refused the session; nothing was sent: {exc}") from None
        try:
            refused = smtp.send_message(message)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
            # The server answered no: it accepted nothing, so a retry may send it.
            raise ActionNotPerformed(f"{where} did not take the e-mail: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            # Cut off mid-send: the server may have taken it. Not ActionNotPerformed: the commit
            # ledger keeps the intent and a person checks, rather than a retry sending it twice.
            raise DeliveryFailed(f"{where} failed while sending; the e-mail may have gone: {exc}") from None
    if refused:
        # Some recipients got it: sending again would repeat it for them.
        refused_list = ", ".join(sorted(refused))
        raise DeliveryFailed(f"SMTP refused some recipients (the others got it): {refused_list}")
    return {"message_id": str(message["Message-ID"]), "to": ", ".join(action.to)}
