"""CLOSER's CRM: one interface (`model.Crm`), two real backends, and the demo pipeline.

- `model`: the records (deals, contacts, companies, notes), `Crm`, its errors, the compare-and-set rule.
- `sqlite`: the embedded CRM in one SQLite file (the default); `seed`: its demo pipeline.
- `hubspot`: HubSpot's CRM v3 REST API through httpx; `hubspot_http`: its authenticated, rate-limited client.
- `settings`: which CRM, from the environment (the HubSpot token also from a Prefect Secret block).

`python -m prefect_review_gate.flows.closer.crm seed [PATH]` creates the demo CRM.
"""
