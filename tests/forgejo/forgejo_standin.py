"""A Forgejo stand-in for the runner tests: an HTTP/1.1 server speaking the Connect protocol
(unary calls, application/proto and application/json bodies, gzip answers of 1 KiB or more when
the client offers gzip) with the project's runner.v1 and ping.v1 protos, compiled by protoc at
import time. It keeps what Forgejo keeps of a runner's tasks (services/actions, routers/api/
actions/runner) closely enough to check a runner against: registration tokens, runners and their
tokens, tasks_version, task states, log rows by absolute index (Forgejo's UpdateLog rule), the
outputs it holds, cancellation. Faults can be injected: an answer lost after the call was
handled, or a 5xx before it was."""
import gzip
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

SOURCE_ROOT = os.environ.get("AKBUILD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
_GEN = tempfile.mkdtemp(prefix="akbuild-forgejo-proto-")
subprocess.run(["protoc", "--proto_path=" + os.path.join(SOURCE_ROOT, "proto"), "--python_out=" + _GEN,
                "runner/v1/messages.proto", "ping/v1/messages.proto"], check=True)
sys.path.insert(0, _GEN)
from google.protobuf import json_format  # noqa: E402
from ping.v1 import messages_pb2 as ping_pb  # noqa: E402
from runner.v1 import messages_pb2 as pb  # noqa: E402


class ConnectError(Exception):
    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or {"unauthenticated": 401, "invalid_argument": 400, "not_found": 404,
                                 "already_exists": 409, "unimplemented": 404}.get(code, 500)


class Task:
    def __init__(self, task_id, message):
        self.id = task_id
        self.message = message
        self.state = pb.TaskState(id=task_id)
        self.rows = []
        self.archived = False
        self.outputs = {}
        self.result = pb.RESULT_UNSPECIFIED
        self.cancelled = False
        self.updates = []          # (time, UpdateTaskRequest) as received
        self.fetched_at = None
        self.finished_at = None


class Forgejo:
    """The server's state; every handler runs under one lock, as the database serialises them."""

    def __init__(self, registration_token="reg-token-0123456789"):
        self.lock = threading.Condition()
        self.registration_tokens = {registration_token}
        self.runners = {}          # uuid -> {"token", "name", "labels", "version", "declared"}
        self.tasks = {}            # id -> Task
        self.queue = []            # ids not yet taken
        self.tasks_version = 1
        self.next_id = 41
        self.calls = []            # (method, headers) of every call
        self.faults = []           # {"method", "kind": "lost"|"5xx", "count"}
        self.request_keys = {}     # x-runner-request-key -> task ids
        self.pings = []
        self.gzipped = 0           # answers sent gzip-compressed

    # -- what the tests call
    def add_task(self, payload, secrets=None, variables=None, context=None, needs=None):
        with self.lock:
            self.next_id += 1
            message = pb.Task(id=self.next_id, workflow_payload=payload.encode())
            message.secrets.update(secrets or {})
            message.vars.update(variables or {})
            ctx = {"event_name": "push", "event": {"ref": "refs/heads/main"}, "repository": "owner/repo",
                   "sha": "0" * 40, "ref": "refs/heads/main", "run_id": "7", "run_number": "3",
                   "server_url": "http://forgejo.invalid", "forgejo_default_actions_url": "https://data.forgejo.org"}
            ctx.update(context or {})
            message.context.update(ctx)
            for job, (result, outputs) in (needs or {}).items():
                message.needs[job].result = result
                message.needs[job].outputs.update(outputs)
            self.tasks[self.next_id] = Task(self.next_id, message)
            self.queue.append(self.next_id)
            self.tasks_version += 1
            self.lock.notify_all()
            return self.next_id

    def cancel(self, task_id):
        with self.lock:
            self.tasks[task_id].cancelled = True
            self.lock.notify_all()

    def wait(self, predicate, timeout=60):
        deadline = time.time() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.2))
            return True

    def wait_finished(self, task_id, timeout=60):
        return self.wait(lambda: self.tasks[task_id].finished_at is not None
                         and self.tasks[task_id].archived, timeout)

    def log_lines(self, task_id, step=None):
        task = self.tasks[task_id]
        rows = [r.content for r in task.rows]
        if step is None:
            return rows
        s = task.state.steps[step]
        return rows[s.log_index:s.log_index + s.log_length]

    def fault(self, method, kind, count=1):
        with self.lock:
            self.faults.append({"method": method, "kind": kind, "count": count})

    def take_fault(self, method):
        with self.lock:
            for f in self.faults:
                if f["method"] == method and f["count"] > 0:
                    f["count"] -= 1
                    return f["kind"]
        return None

    # -- the services
    def runner_of(self, headers):
        r = self.runners.get(headers.get("x-runner-uuid", ""))
        if not r or r["token"] != headers.get("x-runner-token"):
            raise ConnectError("unauthenticated", "unregistered runner")
        return r

    def Ping(self, req, headers):
        self.pings.append(req.data)
        return ping_pb.PingResponse(data="Hello, %s!" % req.data)

    def Register(self, req, headers):
        if req.token not in self.registration_tokens:
            raise ConnectError("invalid_argument", "runner registration token not found")
        runner_uuid = str(uuid.uuid4())
        token = uuid.uuid4().hex
        self.runners[runner_uuid] = {"token": token, "name": req.name, "labels": list(req.labels),
                                     "version": req.version, "declared": None}
        return pb.RegisterResponse(runner=pb.Runner(id=len(self.runners), uuid=runner_uuid, token=token,
                                                    name=req.name, version=req.version, labels=req.labels))

    def Declare(self, req, headers):
        r = self.runner_of(headers)
        r["declared"] = {"version": req.version, "labels": list(req.labels)}
        return pb.DeclareResponse(runner=pb.Runner(name=r["name"], version=req.version, labels=req.labels))

    def FetchTask(self, req, headers):
        self.runner_of(headers)
        key = headers.get("x-runner-request-key", "")
        if key and key in self.request_keys:  # a repeated call: the same task again (RecoverTasks)
            task = self.tasks[self.request_keys[key]]
            return pb.FetchTaskResponse(task=task.message, tasks_version=self.tasks_version)
        response = pb.FetchTaskResponse(tasks_version=self.tasks_version)
        if req.tasks_version != self.tasks_version and self.queue:
            task = self.tasks[self.queue.pop(0)]
            task.fetched_at = time.time()
            if key:
                self.request_keys[key] = task.id
            response.task.CopyFrom(task.message)
        return response

    def UpdateTask(self, req, headers):
        self.runner_of(headers)
        task = self.tasks.get(req.state.id)
        if task is None:
            raise ConnectError("not_found", "task %d not found" % req.state.id)
        task.updates.append((time.time(), req))
        if task.result == pb.RESULT_UNSPECIFIED:
            task.state.CopyFrom(req.state)
            for k, v in req.outputs.items():
                if len(k) <= 255 and len(v) <= 1 << 20 and k not in task.outputs:
                    task.outputs[k] = v
            if req.state.result != pb.RESULT_UNSPECIFIED:
                task.result = req.state.result
                task.finished_at = time.time()
        answer = pb.TaskState(id=task.id, result=task.result)
        if task.cancelled and task.result == pb.RESULT_UNSPECIFIED:
            answer.result = pb.RESULT_CANCELLED
        return pb.UpdateTaskResponse(state=answer, sent_outputs=sorted(task.outputs))

    def UpdateLog(self, req, headers):
        self.runner_of(headers)
        task = self.tasks.get(req.task_id)
        if task is None:
            raise ConnectError("not_found", "task %d not found" % req.task_id)
        if task.archived:
            raise ConnectError("already_exists", "log file has been archived")
        ack = len(task.rows)
        rows = list(req.rows)
        if rows and req.index <= ack < req.index + len(rows):
            task.rows.extend(rows[ack - req.index:])
        if req.no_more:
            task.archived = True
        return pb.UpdateLogResponse(ack_index=len(task.rows))


METHODS = {
    "/api/actions/ping.v1.PingService/Ping": ("Ping", ping_pb.PingRequest),
    "/api/actions/runner.v1.RunnerService/Register": ("Register", pb.RegisterRequest),
    "/api/actions/runner.v1.RunnerService/Declare": ("Declare", pb.DeclareRequest),
    "/api/actions/runner.v1.RunnerService/FetchTask": ("FetchTask", pb.FetchTaskRequest),
    "/api/actions/runner.v1.RunnerService/UpdateTask": ("UpdateTask", pb.UpdateTaskRequest),
    "/api/actions/runner.v1.RunnerService/UpdateLog": ("UpdateLog", pb.UpdateLogRequest),
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "forgejo-standin"

    def log_message(self, *args):
        pass

    def do_POST(self):
        forgejo = self.server.forgejo
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        entry = METHODS.get(self.path)
        if entry is None:
            return self.send_error_json(ConnectError("unimplemented", "no such procedure " + self.path, 404))
        name, request_type = entry
        content_type = self.headers.get("Content-Type", "")
        if content_type not in ("application/proto", "application/json") or \
                self.headers.get("Connect-Protocol-Version") != "1":
            return self.send_error_json(ConnectError("invalid_argument", "not a Connect unary call", 415))
        headers = {k.lower(): v for k, v in self.headers.items()}
        forgejo.calls.append((name, headers))
        fault = forgejo.take_fault(name)
        if fault == "5xx":
            return self.send_plain(503, b"upstream unavailable")
        request = request_type()
        try:
            if content_type == "application/json":
                json_format.Parse(body.decode() or "{}", request)
            else:
                request.ParseFromString(body)
        except Exception as e:  # noqa: BLE001
            return self.send_error_json(ConnectError("invalid_argument", "bad body: %s" % e))
        with forgejo.lock:
            try:
                response = getattr(forgejo, name)(request, headers)
            except ConnectError as e:
                forgejo.lock.notify_all()
                return self.send_error_json(e)
            forgejo.lock.notify_all()
        if fault == "lost":  # handled, but the answer never arrives
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if content_type == "application/json":
            payload = json_format.MessageToJson(response).encode()
        else:
            payload = response.SerializeToString()
        extra = {}
        if len(payload) >= 1024 and "gzip" in self.headers.get("Accept-Encoding", ""):
            payload = gzip.compress(payload)
            extra["Content-Encoding"] = "gzip"
            forgejo.gzipped += 1
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_plain(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_error_json(self, error):
        payload = json.dumps({"code": error.code, "message": error.message}).encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Server:
    """The stand-in on 127.0.0.1 (a free port), in a thread."""

    def __init__(self, tls=None):
        """`tls`: (certificate file, key file) to serve https instead of http."""
        self.forgejo = Forgejo()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        # A client that gave up on a lost answer closes its end: nothing to report.
        self.httpd.handle_error = lambda request, address: None
        self.httpd.forgejo = self.forgejo
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    s = Server()
    print(s.url, flush=True)
    s.thread.join()
