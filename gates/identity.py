"""Reviewer identities: what a name proves, and the one way every surface writes and compares it.

Two kinds of identity appear in a policy's `reviewers`:

- **Asserted** names (`alice`, `ana@client.example`): no `:` in them. Whoever can write to the
  Prefect API (the UI's resume form, `review-gate approve --as`, a REST call) may type them, so
  they prove access to the API and nothing more. Listing one is the policy's consent to that.
- **Channel-qualified** ids (`slack:U024BE7LH`, `slack-group:S0614TZR7`): the part before the `:`
  names a channel that verifies who acted (Slack signs its requests with the user's id). They
  count only with a proof from that channel (`proofs`); typed anywhere else they count for nothing.

A decision names the person who decided (`reviewer`) and, when the channel found them in a listed
group, that group (`member_of`): group membership is only ever what the verifying channel checked.
"""

from __future__ import annotations

import unicodedata

__all__ = ["is_asserted", "normalize_identity", "qualifier"]


def normalize_identity(text: str) -> str:
    """An identity as every surface stores and compares it: NFC, no surrounding whitespace.

    Case is kept: Slack ids are case-sensitive, and two policies' `Alice` and `alice` are not
    silently merged.
    """
    return unicodedata.normalize("NFC", text).strip()


def qualifier(identity: str) -> str:
    """The channel qualifier of an identity (`slack` for `slack:U1`), or '' for an asserted name."""
    prefix, colon, rest = identity.partition(":")
    return prefix if colon and prefix and rest else ""


def is_asserted(identity: str) -> bool:
    """True for a plain name that anyone with API access can type; False for a channel's id."""
    return not qualifier(identity)
