"""What every agent flow shares, so that FORGE, CLOSER and RENDER each keep only their own.

- `boundaries`: the three boundary rules for a system prompt, the `report_blocker` tool, `Blocker`.
- `blocked`: how a run ends when its agent reports a blocker or the model refuses (`Blocked`).
- `claude`: the Claude client on the official SDK: settings, key, streaming, retries, errors, usage.
- `pricing`: list prices per exact model id, for the usage's cost estimate.
- `replies`: every stop reason's outcome, tool calls, one-line errors for invalid tool input.
- `claude_task`: the Claude call as a Prefect task, persisted for the run, with a usage artifact.
- `run_cache`: task results scoped to one flow run, for work before a suspend.
- `channels`: where reviews are announced (Slack when configured).
- `smtp`: the e-mail sink, the executor of the generic `email.send`.
- `offline_model`: a local Messages API fake replaying recorded replies as the API answers
  (streamed events, request ids, documented errors; offline demos, tests).
- `mail_sink`: a local SMTP server keeping each message as an .eml file (demos that send e-mail).
- `local_server`: a temporary `prefect server start` on loopback (demos, deployment tests).
"""
