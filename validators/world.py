"""What exists, for checking an agent's proposal against it: a CRM snapshot, a workspace, sources.

Loaded from WORLD.json (docs/architecture.md, `review-gate validate-actions`); paths inside it are relative to
the file. Anything unreadable is an `InputError` with one line naming what and where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.sources import SourceLibrary, read_text_file
from prefect_review_gate.validators.workspace import Workspace

__all__ = ["DEAL_FIELDS", "Crm", "World", "load_json"]

DEAL_FIELDS = frozenset({"id", "name", "stage", "amount", "contact_ids"})


@dataclass(frozen=True)
class Crm:
    """The CRM records an agent may refer to, indexed by id."""

    deals: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    contacts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    companies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    stages: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()

    @classmethod
    def from_data(cls, data: Any, where: str) -> Crm:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InputError(f'{where}: "crm" must be an object')
        deals = _records(data.get("deals"), f"{where}: crm.deals")
        contacts = _records(data.get("contacts"), f"{where}: crm.contacts")
        companies = _records(data.get("companies"), f"{where}: crm.companies")
        stages = data.get("stages", [])
        if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
            raise InputError(f"{where}: crm.stages must be a list of strings")
        emails = frozenset(c["email"] for c in contacts.values() if isinstance(c.get("email"), str))
        return cls(deals, contacts, companies, frozenset(stages), emails)


@dataclass(frozen=True)
class World:
    crm: Crm
    workspace: Workspace | None
    sources: SourceLibrary

    @classmethod
    def from_file(cls, path: Path) -> World:
        """Load WORLD.json and what it names. Raises `InputError` for anything unreadable."""
        data = load_json(path, "world")
        if not isinstance(data, dict):
            raise InputError(f"world {path} must hold a JSON object")
        base = path.parent
        workspace = None
        if data.get("workspace") is not None:
            workspace = Workspace.open(base / _relative(data["workspace"], f"world {path}: workspace"))
        sources = SourceLibrary.from_texts({})
        if data.get("sources") is not None:
            sources = SourceLibrary.from_folder(base / _relative(data["sources"], f"world {path}: sources"))
        return cls(Crm.from_data(data.get("crm"), f"world {path}"), workspace, sources)


def load_json(path: Path, what: str) -> Any:
    text = read_text_file(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None


def _records(items: Any, where: str) -> dict[str, Mapping[str, Any]]:
    if items is None:
        return {}
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("id"), str) for i in items
    ):
        raise InputError(f'{where} must be a list of objects, each with a string "id"')
    return {item["id"]: item for item in items}


def _relative(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where} must be a path relative to the world file")
    return value
