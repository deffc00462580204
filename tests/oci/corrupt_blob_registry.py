"""A registry stand-in that serves one blob wrong, for the one fault docker-registry cannot be
made to commit: it always sends a blob's true bytes.

It serves the pull half of the OCI distribution spec (v1.0) from an OCI layout: GET /v2/,
/v2/<name>/manifests/<digest> and /v2/<name>/blobs/<digest>, every one from LAYOUT/blobs. The
blob BAD_DIGEST is sent with its first byte changed (same size, another sha256).

Usage: corrupt_blob_registry.py PORT LAYOUT BAD_DIGEST
"""
import http.server
import json
import os
import sys

port, layout, bad = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def blob(digest):
    path = os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[-1])
    if not digest.startswith("sha256:") or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body=b"", content_type="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("/")
        if self.path == "/v2/":
            return self.reply(200, b"{}", "application/json")
        if len(parts) < 5 or parts[-2] not in ("manifests", "blobs"):
            return self.reply(404)
        data = blob(parts[-1])
        if data is None:
            return self.reply(404)
        if parts[-2] == "manifests":
            return self.reply(200, data, json.loads(data).get("mediaType", "application/json"))
        if parts[-1] == bad:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        self.reply(200, data)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
