"""A registry stand-in that counts what a push sends and insists on a chunked upload.

docker-registry takes any upload and logs nothing a test can count, so this small server speaks
the push half of the OCI distribution spec (v1.0) itself and writes one JSON line per request to
LOG: {"method", "path", "range", "length"}. It refuses, as a registry with a body size limit does,
any request body larger than MAX_BODY bytes (413), and a PATCH whose Content-Range does not
start where the upload stands or does not span exactly the bytes sent (416). A finishing PUT
whose digest does not match the bytes received is refused (400 DIGEST_INVALID).

With LIE set, it answers a manifest PUT with the digest of other bytes, as a registry that
rewrote the manifest would.

Usage: counting_registry.py PORT LOG MAX_BODY [LIE]
"""
import hashlib
import http.server
import json
import sys
import urllib.parse
import uuid

port, log_path, max_body = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lie = len(sys.argv) > 4 and sys.argv[4] == "LIE"
blobs = {}    # digest -> bytes
uploads = {}  # upload id -> bytearray


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, headers=None, body=b""):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        content_range = self.headers.get("Content-Range")
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"method": self.command, "path": url.path, "range": content_range,
                                  "length": len(body)}) + "\n")
        if len(body) > max_body:
            return self.reply(413)
        parts = url.path.split("/")
        if url.path == "/v2/":
            return self.reply(200)
        if self.command == "HEAD" and "blobs" in parts:
            return self.reply(200 if parts[-1] in blobs else 404)
        if self.command == "POST" and url.path.endswith("/blobs/uploads/"):
            upload = uuid.uuid4().hex
            uploads[upload] = bytearray()
            return self.reply(202, {"Location": url.path + upload, "Range": "0-0"})
        if "uploads" in parts and parts[-1] in uploads:
            data = uploads[parts[-1]]
            if self.command == "PATCH":
                start, _, end = (content_range or "").partition("-")
                if not content_range or int(start) != len(data) or int(end) != len(data) + len(body) - 1:
                    return self.reply(416)
                data += body
                return self.reply(202, {"Location": url.path, "Range": "0-%d" % (len(data) - 1)})
            if self.command == "PUT":
                data += body
                digest = query.get("digest", [""])[0]
                if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                    return self.reply(400, {}, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                blobs[digest] = bytes(data)
                del uploads[parts[-1]]
                return self.reply(201, {"Location": url.path.split("/blobs/")[0] + "/blobs/" + digest})
        if self.command == "PUT" and "manifests" in parts:
            stored = body + b" " if lie else body
            return self.reply(201, {"Docker-Content-Digest": "sha256:" + hashlib.sha256(stored).hexdigest()})
        return self.reply(404)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
