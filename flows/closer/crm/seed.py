"""A realistic demo pipeline for the SQLite CRM: companies, contacts, deals in stages, notes.

Times are relative to `now`, so "the deals that changed since yesterday" is always the same two,
in this order: Northwind's renewal (1001) and Bluefin's pilot (1002), each with a fresh note; the
others last moved days ago.
The stage ids are HubSpot's default sales pipeline's, so the demo reads like a real portal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect_review_gate.flows.closer.crm.sqlite import SqliteCrm, _stamp

__all__ = ["STAGES", "seed"]

STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]

COMPANIES = [
    ("301", "Northwind Traders", "northwind.example"),
    ("302", "Bluefin Logistics", "bluefin.example"),
    ("303", "Harbor & Pine Foods", "harborpine.example"),
    ("304", "Kestrel Analytics", "kestrel.example"),
    ("305", "Orchard Health", "orchardhealth.example"),
]

CONTACTS = [
    ("2001", "Ana Ruiz", "ana.ruiz@northwind.example", "301"),
    ("2002", "Tom Becker", "tom.becker@northwind.example", "301"),
    ("2003", "Priya Natarajan", "priya@bluefin.example", "302"),
    ("2004", "Jonas Weber", "jonas.weber@bluefin.example", "302"),
    ("2005", "Grace Liu", "grace@harborpine.example", "303"),
    ("2006", "Samir Haddad", "samir@kestrel.example", "304"),
    ("2007", "Elena Costa", "elena.costa@orchardhealth.example", "305"),
    ("2008", "Mark Osei", "mark.osei@orchardhealth.example", "305"),
]

# id, name, stage, amount, company, contacts, days since the last change
DEALS = [
    (
        "1001",
        "Northwind fleet telematics renewal",
        "decisionmakerboughtin",
        48000,
        "301",
        ["2001", "2002"],
        0.2,
    ),
    ("1002", "Bluefin route-planning pilot", "presentationscheduled", 18500, "302", ["2003"], 0.1),
    ("1003", "Harbor & Pine cold-chain sensors", "qualifiedtobuy", 32000, "303", ["2005"], 6),
    ("1004", "Kestrel data platform add-on", "contractsent", 12750, "304", ["2006"], 9),
    ("1005", "Orchard Health clinic rollout", "appointmentscheduled", 96000, "305", ["2007", "2008"], 14),
    ("1006", "Northwind warehouse scanners", "closedwon", 22400, "301", ["2002"], 30),
    ("1007", "Bluefin driver app", "closedlost", 9900, "302", ["2004"], 45),
]

# id, deal, days ago, body
NOTES = [
    (
        "5001",
        "1001",
        20,
        "Kick-off with Ana Ruiz (VP Operations). Northwind runs 140 vans on the current "
        "contract, which ends on 30 June.",
    ),
    ("5002", "1001", 3, "Sent the renewal quote: 3 years at 48,000 per year, 40 new vehicle units included."),
    (
        "5003",
        "1001",
        0.2,
        "Call with Ana Ruiz: Northwind agreed to the 3-year renewal at 48,000 per year. "
        "Ana asked us to send the contract for signature this week; Tom Becker signs for procurement.",
    ),
    (
        "5004",
        "1002",
        5,
        "Discovery call with Priya Natarajan: Bluefin plans routes for 60 trucks by hand every morning.",
    ),
    (
        "5005",
        "1002",
        0.1,
        "Demo held with Priya Natarajan. Bluefin wants a 6-week pilot for 40 trucks "
        "starting 1 July; Priya asked for the pilot terms in writing.",
    ),
    ("5006", "1003", 6, "Grace Liu confirmed budget for 200 sensors; waiting on their IT security review."),
    ("5007", "1004", 9, "Contract sent to Samir Haddad for the add-on, 12,750 per year."),
    ("5008", "1005", 14, "First meeting booked with Elena Costa for the clinic rollout."),
    ("5009", "1006", 30, "Signed: 22,400 for warehouse scanners."),
    ("5010", "1007", 45, "Bluefin chose an in-house driver app; closed lost."),
]


def seed(path: str | Path, now: datetime | None = None) -> SqliteCrm:
    """Create the demo CRM in `path`, replacing a demo CRM already there.

    Raises:
        CrmError: the file cannot be written.
    """
    file = Path(path).expanduser()
    file.unlink(missing_ok=True)
    crm = SqliteCrm.create(file)
    now = now or datetime.now(UTC)

    def ago(days: float) -> str:
        return _stamp(now - timedelta(days=days))

    with crm._connect(write=True) as db:
        db.executemany(
            "INSERT INTO stages (id, position) VALUES (?, ?)", [(s, i) for i, s in enumerate(STAGES)]
        )
        db.executemany("INSERT INTO companies (id, name, domain) VALUES (?, ?, ?)", COMPANIES)
        db.executemany(
            "INSERT INTO contacts (id, name, email, company_id, created_at) VALUES (?, ?, ?, ?, ?)",
            [(*contact, ago(60)) for contact in CONTACTS],
        )
        for deal_id, name, stage, amount, company, contacts, days in DEALS:
            db.execute(
                "INSERT INTO deals (id, name, stage, amount, company_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (deal_id, name, stage, amount, company, ago(days)),
            )
            db.executemany(
                "INSERT INTO deal_contacts (deal_id, contact_id) VALUES (?, ?)",
                [(deal_id, c) for c in contacts],
            )
        db.executemany(
            "INSERT INTO notes (id, deal_id, body, created_at) VALUES (?, ?, ?, ?)",
            [(note_id, deal, body, ago(days)) for note_id, deal, days, body in NOTES],
        )
    return crm
