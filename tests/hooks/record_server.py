"""A one-shot HTTP server on 127.0.0.1 that records what a chat hook sends.

record_server.py PORTFILE LOGFILE STATUS: listens on a free port (written to
PORTFILE), appends each request as one JSON line {method, path,
content_type, body} to LOGFILE, answers with STATUS, and stops after one
request or 20 seconds, whichever comes first.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

portfile, logfile, status = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Recorder(BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        with open(logfile, "a", encoding="utf-8") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "content_type": self.headers.get("Content-Type"),
                                "body": body}, ensure_ascii=False) + "\n")
        reply = b'{"ok": true}' if status < 400 else b'{"ok": false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_GET = do_PUT = handle_any

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Recorder)
server.timeout = 20
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(portfile + ".tmp", portfile)
server.handle_request()
