"""A local fake of HubSpot's CRM API: exactly the endpoints `flows.closer.crm.hubspot` uses.

Requests and responses follow HubSpot's documented shapes (CRM v3 objects, search, batch read with
207 for ids it cannot find, v4 associations batch read with per-record paging, 409 for a contact
whose e-mail exists). Property values are strings, as HubSpot returns them. It binds to port 0,
checks the bearer token, pages by `after` (`page_size` keeps pages small so tests page), and can
answer the next requests with 429 and a Retry-After (`throttle`). It records every request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prefect_review_gate.flows.closer.crm.hubspot import KEY_PROPERTY

TOKEN = "pat-na1-offline-test-token"
_TYPES = {"deals": "DEAL", "contacts": "CONTACT", "companies": "COMPANY", "notes": "NOTE"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotFake:
    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in _TYPES}
        self.links: set[tuple[str, str, str, str]] = set()  # (type, id, type, id), both directions
        self.stages: list[str] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.throttled: list[str] = []  # Retry-After values of the next 429s
        self._next = 9000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HubSpotFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the portal's data ----------------------------------------------------------------------

    def add(self, kind: str, properties: dict[str, Any], record_id: str | None = None) -> str:
        with self._lock:
            if record_id is None:
                self._next += 1
                record_id = str(self._next)
            stamp = str(properties.pop("_modified", _now()))
            props = {k: (None if v is None else str(v)) for k, v in properties.items()}
            props.setdefault("hs_lastmodifieddate", stamp)
            props["hs_object_id"] = record_id
            self.objects[kind][record_id] = {
                "id": record_id,
                "properties": props,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
            return record_id

    def associate(self, kind: str, record_id: str, other: str, other_id: str) -> None:
        with self._lock:
            self.links |= {(kind, record_id, other, other_id), (other, other_id, kind, record_id)}

    def linked(self, kind: str, record_id: str, other: str) -> list[str]:
        return sorted((o for k, r, t, o in self.links if (k, r, t) == (kind, record_id, other)), key=int)

    def throttle(self, *retry_after: str) -> None:
        self.throttled.extend(retry_after)

    def calls(self, method: str, pattern: str) -> list[Any]:
        return [body for m, path, body in self.requests if m == method and re.fullmatch(pattern, path)]

    # --- the API --------------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append((method, path, body))
            if self.throttled:
                retry = self.throttled.pop(0)
                error = {
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT",
                    "policyName": "TEN_SECONDLY_ROLLING",
                }
                return 429, error, {"Retry-After": retry}
        for pattern, route in self._routes():
            match = re.fullmatch(pattern, path)
            if match and route[0] == method:
                with self._lock:
                    return route[1](body, *match.groups())
        return (
            404,
            {"status": "error", "message": f"no route {method} {path}", "category": "OBJECT_NOT_FOUND"},
            {},
        )

    def _routes(self) -> Iterator[tuple[str, tuple[str, Any]]]:
        yield r"/crm/v3/pipelines/deals/([^/]+)", ("GET", self._pipeline)
        yield r"/crm/v3/objects/deals/search", ("POST", self._search)
        yield r"/crm/v3/objects/(\w+)/batch/read", ("POST", self._batch_read)
        yield r"/crm/v4/associations/(\w+)/(\w+)/batch/read", ("POST", self._associations)
        yield r"/crm/v3/objects/deals/(\d+)", ("PATCH", self._patch_deal)
        yield r"/crm/v4/objects/deals/(\d+)/associations/default/contacts/(\d+)", ("PUT", self._link)
        yield r"/crm/v4/objects/deals/(\d+)/associations/contacts/(\d+)", ("DELETE", self._unlink)
        yield r"/crm/v3/objects/(notes|contacts)", ("POST", self._create)

    def _pipeline(self, body: Any, pipeline: str) -> tuple[int, Any, dict[str, str]]:
        if pipeline != "default":
            return (
                404,
                {"status": "error", "message": "Pipeline not found", "category": "OBJECT_NOT_FOUND"},
                {},
            )
        stages = [
            {"id": s, "label": s, "displayOrder": i, "archived": False} for i, s in enumerate(self.stages)
        ]
        return 200, {"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "stages": stages}, {}

    def _view(self, record: dict[str, Any], properties: list[str]) -> dict[str, Any]:
        props = {p: record["properties"].get(p) for p in properties}
        props["hs_object_id"] = record["id"]
        return {**record, "properties": props}

    def _search(self, body: Any, *_: str) -> tuple[int, Any, dict[str, str]]:
        [group] = body["filterGroups"]
        [rule] = group["filters"]
        assert rule["propertyName"] == "hs_lastmodifieddate" and rule["operator"] == "GTE"
        since = int(rule["value"])

        def modified(record: dict[str, Any]) -> int:
            stamp = datetime.fromisoformat(record["properties"]["hs_lastmodifieddate"].replace("Z", "+00:00"))
            return int(stamp.timestamp() * 1000)

        hits = sorted((r for r in self.objects["deals"].values() if modified(r) >= since), key=modified)
        start = int(body.get("after") or 0)
        size = min(int(body.get("limit", 10)), self.page_size)
        page = [self._view(r, body.get("properties", [])) for r in hits[start : start + size]]
        answer: dict[str, Any] = {"total": len(hits), "results": page}
        if start + size < len(hits):
            answer["paging"] = {"next": {"after": str(start + size), "link": "?after=" + str(start + size)}}
        return 200, answer, {}

    def _batch_read(self, body: Any, kind: str) -> tuple[int, Any, dict[str, str]]:
        if kind not in self.objects:
            return (
                400,
                {"status": "error", "message": f"Unknown object type {kind}", "category": "VALIDATION_ERROR"},
                {},
            )
        by = body.get("idProperty")
        found, missing = [], []
        for item in body["inputs"]:
            key = item["id"]
            if by:
                record = next(
                    (r for r in self.objects[kind].values() if r["properties"].get(by) == key), None
                )
            else:
                record = self.objects[kind].get(key)
            if record is None:
                missing.append(key)
            else:
                found.append(self._view(record, body.get("properties", [])))
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": found,
            "startedAt": _now(),
            "completedAt": _now(),
        }
        if missing:
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {_TYPES[kind]} objects, they may be deleted or not "
                    "exist.",
                    "context": {"ids": missing},
                }
            ]
            return 207, answer, {}
        return 200, answer, {}

    def _associations(self, body: Any, source: str, target: str) -> tuple[int, Any, dict[str, str]]:
        results, empty = [], []
        for item in body["inputs"]:
            linked = self.linked(source, item["id"], target)
            if not linked:
                empty.append(item["id"])
                continue
            start = int(item.get("after") or 0)
            page = linked[start : start + self.page_size]
            result: dict[str, Any] = {
                "from": {"id": item["id"]},
                "to": [
                    {
                        "toObjectId": int(i),
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}],
                    }
                    for i in page
                ],
            }
            if start + self.page_size < len(linked):
                result["paging"] = {"next": {"after": str(start + self.page_size), "link": None}}
            results.append(result)
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if empty:
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "NO_ASSOCIATIONS_FOUND",
                    "message": "No associations found",
                    "context": {"fromObjectId": empty},
                }
            ]
            return 207, answer, {}
        return 200, answer, {}

    def _patch_deal(self, body: Any, deal_id: str) -> tuple[int, Any, dict[str, str]]:
        record = self.objects["deals"].get(deal_id)
        if record is None:
            return 404, {"status": "error", "message": "Object not found", "category": "OBJECT_NOT_FOUND"}, {}
        record["properties"].update({k: str(v) for k, v in body["properties"].items()})
        record["updatedAt"] = record["properties"]["hs_lastmodifieddate"] = _now()
        return 200, record, {}

    def _link(self, body: Any, deal_id: str, contact_id: str) -> tuple[int, Any, dict[str, str]]:
        self.links |= {("deals", deal_id, "contacts", contact_id), ("contacts", contact_id, "deals", deal_id)}
        return (
            200,
            {"status": "COMPLETE", "results": [{"from": {"id": deal_id}, "to": {"id": contact_id}}]},
            {},
        )

    def _unlink(self, body: Any, deal_id: str, contact_id: str) -> tuple[int, Any, dict[str, str]]:
        self.links -= {("deals", deal_id, "contacts", contact_id), ("contacts", contact_id, "deals", deal_id)}
        return 204, None, {}

    def _create(self, body: Any, kind: str) -> tuple[int, Any, dict[str, str]]:
        props = dict(body["properties"])
        if kind == "notes" and "hs_timestamp" not in props:
            return (
                400,
                {"status": "error", "message": "hs_timestamp is required", "category": "VALIDATION_ERROR"},
                {},
            )
        if kind == "contacts":
            for record in self.objects["contacts"].values():
                if record["properties"].get("email") == props.get("email"):
                    return (
                        409,
                        {
                            "status": "error",
                            "category": "CONFLICT",
                            "message": f"Contact already exists. Existing ID: {record['id']}",
                        },
                        {},
                    )
        allowed = {
            "notes": {"hs_note_body", "hs_timestamp", KEY_PROPERTY},
            "contacts": {"email", "firstname", "lastname"},
        }
        unknown = set(props) - allowed[kind]
        if unknown:
            message = f"Property values were not valid: {sorted(unknown)} do not exist"
            return 400, {"status": "error", "message": message, "category": "VALIDATION_ERROR"}, {}
        self._lock.release()  # add() takes the lock itself
        try:
            record_id = self.add(kind, props)
        finally:
            self._lock.acquire()
        for link in body.get("associations", []):
            other = "deals" if kind == "notes" else "companies"
            target = str(link["to"]["id"])
            self.links |= {(kind, record_id, other, target), (other, target, kind, record_id)}
        return 201, self.objects[kind][record_id], {}


def _handler(fake: HubSpotFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("authorization") != f"Bearer {TOKEN}":
                body = {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                }
                self._send(401, body, {})
                return
            status, answer, headers = fake.handle(
                self.command, self.path.split("?", 1)[0], json.loads(raw or b"null")
            )
            self._send(status, answer, headers)

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json;charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def seed_demo(fake: HubSpotFake) -> None:
    """The SQLite demo pipeline (`crm.seed`), loaded into the fake portal with the same ids."""
    from datetime import timedelta

    from prefect_review_gate.flows.closer.crm import seed

    now = datetime.now(UTC)

    def ago(days: float) -> str:
        return (now - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    fake.stages = list(seed.STAGES)
    for company_id, name, domain in seed.COMPANIES:
        fake.add("companies", {"name": name, "domain": domain}, company_id)
    for contact_id, name, email, company_id in seed.CONTACTS:
        first, _, last = name.partition(" ")
        fake.add("contacts", {"firstname": first, "lastname": last, "email": email}, contact_id)
        fake.associate("contacts", contact_id, "companies", company_id)
    for deal_id, name, stage, amount, company, contacts, days in seed.DEALS:
        props = {
            "dealname": name,
            "dealstage": stage,
            "amount": amount,
            "pipeline": "default",
            "_modified": ago(days),
        }
        fake.add("deals", props, deal_id)
        fake.associate("deals", deal_id, "companies", company)
        for contact_id in contacts:
            fake.associate("deals", deal_id, "contacts", contact_id)
    for note_id, deal_id, days, body in seed.NOTES:
        fake.add("notes", {"hs_note_body": body, "hs_timestamp": ago(days)}, note_id)
        fake.associate("notes", note_id, "deals", deal_id)
