"""What every agent flow shares, so that each agent's own package keeps only its own.

- `claude`: the Claude client on the official SDK: settings, key, retries, errors, usage and cost.
- `offline_model`: a local Messages API fake replaying recorded replies (offline demos, tests).
- `smtp`: the e-mail sink, the executor of the generic `email.send`.
- `local_server`: a temporary `prefect server start` on loopback (demos, deployment tests).
"""
