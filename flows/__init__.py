"""Reference flows: FORGE, the proposal agent (`flows.forge`), CLOSER, the CRM deal agent
(`flows.closer`), the review sweeper (`flows.maintenance`) and FORGE's demo (`flows.demo`); the
pieces every agent shares live in `flows.common`.

An agent is a subpackage shaped like `flows.forge`: docs/agents.md says how to add one.
"""
