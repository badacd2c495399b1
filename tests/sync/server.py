#!/usr/bin/python3
"""A stand-in for a CRM's HTTP API, on 127.0.0.1 only, for tests/sync/run.sh.

    server.py CRM FIXTURES_DIR PORT_FILE LOG_FILE SCENARIO SECRET

Serves the records of tests/fixtures/importers/CRM/ in the response shapes
and paging of the CRM's API documentation (docs/IMPORTERS.md cites the
pages), two records a page so that paging is exercised.  SECRET is the
token (or webhook code, or password) a request must carry, else 401.
SCENARIO, comma-separated flags:
  429        the first request is answered 429 with Retry-After: 1
  500        the first request is answered 500
  drop       the first request for page 2 of the last call is cut mid-body
  malformed  page 2 of the last call is not JSON
  shape      the last call's list is under another name
  notfound   every request is 404
  apierror   every request is 200 with an error body (as Bitrix24 does)
  slow=S     page 2 of the last call waits S seconds first
Each request is logged as "METHOD PATH-WITHOUT-QUERY page=P" (no secrets)."""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

crm, fixtures, port_file, log_file, scenario, secret = sys.argv[1:7]
flags = {}
for f in scenario.split(","):
    if f:
        k, _, v = f.partition("=")
        flags[k] = v
PAGE = 2
state = {"first": True, "dropped": False}


def load(name):
    with open(os.path.join(fixtures, name), encoding="utf-8") as fp:
        return json.load(fp)


def flows():
    by_deal = {}
    with open(os.path.join(fixtures, "flow.jsonl"), encoding="utf-8") as fp:
        for line in fp:
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # the fixture's deliberately broken line
            # One line is one deal's flow response: its deal is the one its
            # changes name.
            ids = [i["data"]["item_id"] for i in doc["data"] if "item_id" in i.get("data", {})]
            by_deal.setdefault(str(ids[0]), []).extend(doc["data"])
    return by_deal


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_any(None)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.handle_any(json.loads(self.rfile.read(n) or b"{}"))

    def handle_any(self, body):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        route = ROUTES[crm]
        try:
            key, pos, last = route.where(path, q, body)
        except KeyError:
            return self.send(404, '{"error": "not found"}')
        with open(log_file, "a") as log:
            log.write("%s %s page=%s last=%d\n" % (self.command, path.replace(secret, "SECRET"), pos, last))
        if "notfound" in flags:
            return self.send(404, '{"error": "no such account"}')
        if "apierror" in flags:
            return self.send(200, '{"error": "ACCESS_DENIED", "error_description": "Access denied."}')
        if not route.authorized(self, path, q):
            return self.send(401, '{"error": "expired_token", "error_description": "The access token expired"}')
        if state["first"]:
            state["first"] = False
            if "429" in flags:
                return self.send(429, '{"error": "too many requests"}', [("Retry-After", "1")])
            if "500" in flags:
                return self.send(500, '{"error": "internal"}')
        second = last and pos == route.second
        if second and "slow" in flags:
            time.sleep(float(flags["slow"]))
        if second and "drop" in flags and not state["dropped"]:
            state["dropped"] = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b'{"partial": ')
            self.wfile.flush()
            self.close_connection = True
            return
        if second and "malformed" in flags:
            return self.send(200, '{"result": [{"ID": 1,, }')
        code, doc = route.page(key, pos)
        if code == 204:
            self.send_response(204)
            self.end_headers()
            return
        text = json.dumps(doc, ensure_ascii=False)
        if last and "shape" in flags:
            text = text.replace('"' + route.list_key + '"', '"renamed"')
        self.send(code, text)


def bearer(h):
    return h.headers.get("Authorization") == "Bearer " + secret


class Amo:
    second = "2"
    list_key = "events"

    def where(self, path, q, body):
        if path == "/api/v4/leads/pipelines":
            return "pipelines", "1", False
        name = {"/api/v4/users": "users", "/api/v4/leads": "leads", "/api/v4/events": "events"}[path]
        return name, q.get("page", "1"), name == "events"

    def authorized(self, h, path, q):
        return bearer(h)

    def page(self, key, pos):
        doc = load(key + ".json")
        if key == "pipelines":
            return 200, doc
        items = doc["_embedded"][key]
        n = int(pos)
        chunk = items[(n - 1) * PAGE:n * PAGE]
        if not chunk:
            return 204, None
        out = {"_page": n, "_links": {"self": {"href": "/api/v4/%s?page=%d" % (key, n)}},
               "_embedded": {key: chunk}}
        if n * PAGE < len(items):
            out["_links"]["next"] = {"href": "/api/v4/%s?page=%d" % (key, n + 1)}
        return 200, out


class Bitrix:
    second = "2"
    list_key = "items"
    files = {"crm.status.list.json": "statuses", "user.get.json": "users", "crm.deal.list.json": "deals",
             "crm.stagehistory.list.json": "stagehistory"}

    def where(self, path, q, body):
        method = path.rsplit("/", 1)[1]
        name = self.files[method]
        return name, q.get("start", "0"), name == "stagehistory"

    def authorized(self, h, path, q):
        return path.startswith("/rest/1/" + secret + "/")

    def page(self, key, pos):
        doc = load(key + ".json")
        if key == "statuses":
            return 200, doc
        items = doc["result"]["items"] if key == "stagehistory" else doc["result"]
        n = int(pos)
        chunk = items[n:n + PAGE]
        out = {"result": {"items": chunk} if key == "stagehistory" else chunk, "total": len(items),
               "time": {"start": 1.0}}
        if n + PAGE < len(items):
            out["next"] = n + PAGE
        return 200, out


class Pipedrive:
    second = "2"
    list_key = "data"

    def where(self, path, q, body):
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "stages"] and len(parts) == 3:
            return "stages", q.get("start", "0"), False
        if parts[:3] == ["api", "v1", "deals"] and len(parts) == 3:
            return "deals", q.get("start", "0"), False
        if parts[:3] == ["api", "v1", "deals"] and len(parts) == 5 and parts[4] == "flow":
            return "flow:" + parts[3], q.get("start", "0"), True
        raise KeyError(path)

    def authorized(self, h, path, q):
        return h.headers.get("x-api-token") == secret

    def page(self, key, pos):
        if key.startswith("flow:"):
            items = flows().get(key[5:], [])
        else:
            items = load(key + ".json")["data"]
        n = int(pos)
        chunk = items[n:n + PAGE]
        more = n + PAGE < len(items)
        pag = {"start": n, "limit": PAGE, "more_items_in_collection": more}
        if more:
            pag["next_start"] = n + PAGE
        return 200, {"success": True, "data": chunk or None, "additional_data": {"pagination": pag}}


class HubSpot:
    second = "2"
    list_key = "results"

    def where(self, path, q, body):
        name = {"/crm/v3/owners": "owners", "/crm/v3/objects/deals": "deals"}[path]
        return name, q.get("after", "0"), name == "deals"

    def authorized(self, h, path, q):
        return bearer(h)

    def page(self, key, pos):
        items = load(key + ".json")["results"]
        n = int(pos)
        out = {"results": items[n:n + PAGE]}
        if n + PAGE < len(items):
            out["paging"] = {"next": {"after": str(n + PAGE), "link": "?after=%d" % (n + PAGE)}}
        return 200, out


class BlueSales:
    second = "2"
    list_key = "customers"

    def where(self, path, q, body):
        if path != "/app/Customers/WebServer.aspx" or q.get("command") != "customers.get":
            raise KeyError(path)
        self.q = q
        return "customers", str(int((body or {}).get("startRowNumber", 0))), True

    def authorized(self, h, path, q):
        return q.get("login") == "demo" and q.get("password") == secret

    def page(self, key, pos):
        items = load("customers_2026-11-28.json")["customers"]
        n = int(pos)
        chunk = items[n:n + PAGE]
        return 200, {"count": len(items), "notReturnedCount": max(0, len(items) - n - len(chunk)),
                     "customers": chunk}


# Page "2" of each: the second request of the last call.
Bitrix.second = str(PAGE)
Pipedrive.second = str(PAGE)
HubSpot.second = str(PAGE)
BlueSales.second = str(PAGE)
ROUTES = {"amocrm": Amo(), "bitrix24": Bitrix(), "pipedrive": Pipedrive(), "hubspot": HubSpot(),
          "bluesales": BlueSales()}

server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as fp:
    fp.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
