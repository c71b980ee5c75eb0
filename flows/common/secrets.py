"""A secret from the environment, else from a Prefect `Secret` block: how every agent gets its keys."""

from __future__ import annotations

from pydantic import SecretStr

from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["secret_or_block"]


async def secret_or_block(
    given: SecretStr | None, block_name: str, *, what: str, env: str, saved: str, error: type[ReviewGateError]
) -> SecretStr:
    """`given` (read from `env`), else the value of the Prefect Secret block `block_name`.

    Args:
        what: the secret for a person ("Anthropic API key").
        env: the environment variable that would hold it.
        saved: what to save in the block, for the message ("one", "a private app's token").
        error: raised, with where to put the secret, when there is none anywhere.
    """
    if given is not None:
        return given
    from prefect.blocks.system import Secret

    try:
        block = await Secret.aload(block_name)
    except (ValueError, LookupError):
        block = None
    except Exception as exc:  # an unreachable Prefect API is a missing secret too, said plainly
        raise error(
            f"no {what}: {env} is unset and the Secret block {block_name!r} could not be read "
            f"({type(exc).__name__})"
        ) from None
    value = block.get() if block is not None else None
    if not isinstance(value, str) or not value.strip():
        raise error(
            f"no {what}: set {env}, or save {saved} in a Prefect Secret block named {block_name!r} "
            f"(`Secret(value=...).save({block_name!r})`)"
        )
    return SecretStr(value.strip())
