"""Benchmark of `review-gate validate-actions` at a large agent's scale.

A proposal of 1,000 actions (e-mails, deal updates, notes, new contacts, releases) and 200 artifact
claims, checked against a CRM of 50,000 contacts and a workspace of 200 artifacts (about 200 MB, a
git repository with tags), with a handful of planted fabrications to be sure the work is done.

It prints the median time of `World.from_file` + `validate_proposal` over a few runs, the peak
memory of one run, and beside them the time to read the workspace once (`cat` speed, page cache
warm like the validator's), and how many bytes the validator read from files per workspace byte
(1.0 means each artifact was read once). Target (issue #12): under 2 s; digests at disk speed.

Run:  .venv/bin/python benchmarks/actions_bench.py [--contacts 50000] [--actions 1000] [--artifacts 200]
It exits 0 whatever the figures: it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from prefect_review_gate.validators import World, validate_proposal

STAGES = ["qualification", "proposal", "negotiation", "closed-won", "closed-lost"]
ARTIFACT_BYTES = 1_000_000


def _read_bytes() -> int:
    """Bytes this process has read through read() calls (page cache included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def build(root: Path, contacts: int, actions: int, artifacts: int, rng: random.Random) -> tuple[Path, Path]:
    """Write WORLD.json, PROPOSAL.json, the workspace and the sources under `root`."""
    companies = [{"id": f"co-{n}", "name": f"Company {n}"} for n in range(contacts // 10)]
    people = [
        {
            "id": f"c-{n}",
            "name": f"Person {n}",
            "email": f"person{n}@client{n % 997}.example",
            "company_id": f"co-{n // 10}",
        }
        for n in range(contacts)
    ]
    deals = [
        {
            "id": f"d-{n}",
            "name": f"Deal {n}",
            "stage": STAGES[n % 4],
            "amount": 1000 + n,
            "contact_ids": [f"c-{n}"],
        }
        for n in range(contacts // 5)
    ]
    workspace = root / "workspace"
    (workspace / "dist").mkdir(parents=True)
    digests = {}
    for n in range(artifacts):
        data = rng.randbytes(ARTIFACT_BYTES)
        path = workspace / "dist" / f"pkg-{n}.whl"
        path.write_bytes(data)
        digests[f"dist/pkg-{n}.whl"] = hashlib.sha256(data).hexdigest()
    git = ["git", "-C", str(workspace), "-c", "user.email=b@example.invalid", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "build"], check=True)
    subprocess.run([*git, "tag", "v1.0.0"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    sources = root / "sources"
    sources.mkdir()
    (sources / "call-notes.md").write_text(
        "On the call the client asked for 40 seats and a start in March. Renewal is due in 12 months.\n"
    )
    world = {
        "crm": {"deals": deals, "contacts": people, "companies": companies, "stages": STAGES},
        "workspace": "workspace",
        "sources": "sources",
    }
    kinds = ["email.send", "crm.update_deal", "crm.log_note", "crm.create_contact", "release.publish"]
    proposal_actions: list[dict[str, Any]] = []
    for n in range(actions):
        kind = kinds[n % len(kinds)]
        deal = f"d-{rng.randrange(len(deals))}"
        if kind == "email.send":
            to = [people[rng.randrange(contacts)]["email"]]
            if n == 0:
                to = ["invented.person@nowhere.example"]  # planted: no CRM contact
            body = "As discussed, 40 seats starting in March [call-notes]."
            proposal_actions.append({"kind": kind, "to": to, "subject": "Next steps", "body": body})
        elif kind == "crm.update_deal":
            stage = "closed-won" if n != 1 else "won-ish"  # planted: no such stage
            proposal_actions.append({"kind": kind, "deal_id": deal, "changes": {"stage": stage}})
        elif kind == "crm.log_note":
            proposal_actions.append(
                {"kind": kind, "deal_id": deal, "body": "Renewal due in 12 months [call-notes]."}
            )
        elif kind == "crm.create_contact":
            proposal_actions.append(
                {
                    "kind": kind,
                    "name": f"New {n}",
                    "email": f"new{n}@client.example",
                    "company_id": f"co-{n % 100}",
                }
            )
        else:
            artifact = f"dist/pkg-{n % artifacts}.whl"
            digest = digests[artifact] if n != 4 else "0" * 64  # planted: a wrong digest
            proposal_actions.append(
                {"kind": kind, "artifact": artifact, "sha256": digest, "version": "1.0.0"}
            )
    claims: list[dict[str, Any]] = [
        {"kind": "artifact", "path": path, "sha256": digest, "size": ARTIFACT_BYTES}
        for path, digest in digests.items()
    ]
    claims += [{"kind": "commit", "sha": head[:12]}, {"kind": "tag", "name": "v1.0.0"}]
    proposal = {
        "task": {"request": "follow up and release", "allowed_actions": kinds},
        "actions": proposal_actions,
        "claims": claims,
    }
    (root / "world.json").write_text(json.dumps(world))
    (root / "proposal.json").write_text(json.dumps(proposal))
    return root / "world.json", root / "proposal.json"


def validate(world_path: Path, proposal_path: Path) -> list[Any]:
    world = World.from_file(world_path)
    return validate_proposal(json.loads(proposal_path.read_text()), world)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--actions", type=int, default=1_000)
    parser.add_argument("--artifacts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="actions-bench-"))
    try:
        world_path, proposal_path = build(root, args.contacts, args.actions, args.artifacts, random.Random(7))
        workspace = root / "workspace"
        workspace_bytes = sum(
            p.stat().st_size for p in workspace.rglob("*") if p.is_file() and ".git" not in p.parts
        )
        deals, companies = args.contacts // 5, args.contacts // 10
        print(f"  world      {args.contacts:,} contacts, {deals:,} deals, {companies:,} companies")
        megabytes = workspace_bytes / 1e6
        print(f"  workspace  {args.artifacts} artifacts, {megabytes:.0f} MB, a git repository with a tag")
        print(f"  proposal   {args.actions:,} actions, {args.artifacts + 2} claims")

        # cat: every artifact read once, 1 MiB at a time, the page cache warm as for the validator.
        cat_times = []
        for _ in range(3):
            began = time.perf_counter()
            for path in (workspace / "dist").iterdir():
                with path.open("rb") as stream:
                    while stream.read(1 << 20):
                        pass
            cat_times.append(time.perf_counter() - began)
        cat = min(cat_times)

        times = []
        findings: list[Any] = []
        read_before = _read_bytes()
        for run in range(args.runs):
            began = time.perf_counter()
            findings = validate(world_path, proposal_path)
            times.append(time.perf_counter() - began)
            if run == 0:
                read_ratio = (_read_bytes() - read_before) / workspace_bytes
        tracemalloc.start()
        validate(world_path, proposal_path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        codes: dict[str, int] = {}
        for finding in findings:
            codes[finding.code] = codes.get(finding.code, 0) + 1
        median = statistics.median(times)
        print(
            f"  findings   {sum(codes.values())}: " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items()))
        )
        runs = f"over {args.runs} runs (World.from_file + validate_proposal)"
        print(f"  validate   median {median:.2f} s, min {min(times):.2f} s {runs}")
        print(f"  cat        {cat:.2f} s to read the workspace once ({workspace_bytes / 1e6 / cat:.0f} MB/s)")
        once = "(1.00 = each file once)"
        print(f"  reads      {read_ratio:.2f} bytes read per workspace byte in one validation {once}")
        print(f"  memory     tracemalloc peak {peak / 2**20:.1f} MiB (one run)")
        planted = {"unknown_recipient", "invalid_value", "digest_mismatch"}
        print(f"  planted    caught: {sorted(planted & set(codes))}, missed: {sorted(planted - set(codes))}")
        print(f"  target: median <= 2 s ................ {'PASS' if median <= 2 else 'MISS'}")
        print(f"  target: each file read once ........... {'PASS' if read_ratio < 1.1 else 'MISS'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
