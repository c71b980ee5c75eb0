"""The review gate: review requests, decisions, channels (Slack, Prefect UI, CLI) and commit."""
