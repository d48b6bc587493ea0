"""HTTP front end: routing, discovery, watch streams, auth, fault injection and the request log."""
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from . import VERSION, errors, podexec, selectors
from .api import Route
from .errors import ApiError

NON_RESOURCE_OK = ("healthz", "livez", "readyz")
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
BODY_TYPES = ("application/json", "application/yaml", "*/*", "")


class Query:
    """Query parameters: first value by name, all values on request."""

    def __init__(self, raw):
        self.values = parse_qs(raw, keep_blank_values=True)

    def get(self, name, default=None):
        found = self.values.get(name)
        return found[0] if found else default

    def get_all(self, name):
        return list(self.values.get(name, ()))

    def as_dict(self):
        return {k: v[0] if len(v) == 1 else v for k, v in self.values.items()}


class Parsed:
    """What a URL addresses: a discovery document, a resource route, or nothing."""

    def __init__(self, kind, document=None, route=None):
        self.kind = kind
        self.document = document
        self.route = route
        self.legacy_watch = False


def version_info():
    major, minor = VERSION.split(".")[:2]
    return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1),
            "gitVersion": "v%s-sandbox" % VERSION, "gitCommit": "0" * 40, "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
            "platform": "linux/amd64"}


def parse_path(registry, path, server_address):
    parts = [p for p in path.split("/") if p]
    if not parts:
        return Parsed("document", {"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]})
    if parts == ["version"]:
        return Parsed("document", version_info())
    if len(parts) == 1 and parts[0] in NON_RESOURCE_OK:
        return Parsed("text", "ok")
    if parts[0] == "api":
        if len(parts) == 1:
            return Parsed("document", {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
        if parts[1] != "v1":
            return Parsed("missing")
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis":
        if len(parts) == 1:
            return Parsed("document", registry.api_group_list())
        if len(parts) == 2:
            document = registry.api_group(parts[1])
            return Parsed("document", document) if document else Parsed("missing")
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Parsed("missing")
    if not rest:
        document = registry.resource_list(group, version)
        return Parsed("document", document) if document else Parsed("missing")
    legacy_watch = rest[0] == "watch" and len(rest) > 1
    if legacy_watch:
        # The deprecated /watch/ path prefix: same as ?watch=true on the rest of the path.
        rest = rest[1:]
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = registry.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    rtype = registry.lookup(group, version, rest[0])
    if rtype is None or len(rest) > 3:
        return Parsed("missing")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if rtype.namespaced and namespace is None and name is not None:
        return Parsed("missing")
    allowed = rtype.subresources + (("finalize",) if rtype.kind == "Namespace" else ())
    if sub is not None and sub not in allowed:
        return Parsed("missing")
    parsed = Parsed("resource", route=Route(rtype, namespace, name, sub))
    parsed.legacy_watch = legacy_watch
    return parsed


def verb_of(method, route, query):
    if method == "GET":
        if route.collection:
            return "watch" if query.get("watch") in ("1", "true", "True") else "list"
        return "watch" if query.get("watch") in ("1", "true", "True") else "get"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "deletecollection" if route.collection else "delete"
    return method.lower()


class Handler(BaseHTTPRequestHandler):
    """One connection; the sandbox instance hangs off the server."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each response waits for
    # the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "k8s-sandbox/" + VERSION

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Silence the default stderr access log (the sandbox keeps its own)."""

    @property
    def sandbox(self):
        return self.server.sandbox

    def do_GET(self):  # pylint: disable=invalid-name
        self._handle("GET")

    def do_POST(self):  # pylint: disable=invalid-name
        self._handle("POST")

    def do_PUT(self):  # pylint: disable=invalid-name
        self._handle("PUT")

    def do_PATCH(self):  # pylint: disable=invalid-name
        self._handle("PATCH")

    def do_DELETE(self):  # pylint: disable=invalid-name
        self._handle("DELETE")

    # Plumbing --------------------------------------------------------------------------------

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _wants_yaml(self):
        accept = (self.headers.get("Accept") or "").split(",")[0].split(";")[0].strip()
        return accept == "application/yaml"

    def _send(self, code, body, headers=(), content_type="application/json"):
        if isinstance(body, (dict, list)) and self._wants_yaml():
            payload = yaml.safe_dump(body, default_flow_style=False, sort_keys=False).encode()
            content_type = "application/yaml"
        elif isinstance(body, (dict, list)):
            payload = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            payload = body.encode()
            content_type = "text/plain; charset=utf-8"
        else:
            payload = body or b""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def send_text(self, code, text):
        """A plain-text answer (what the kubelet writes when it refuses a stream)."""
        self._send(code, text)

    def _send_error(self, error):
        self._send(error.code, error.body(), list(error.headers.items()))

    def _authorized(self, path):
        token = self.sandbox.token
        if not token or path in PUBLIC_PATHS:
            return True
        header = self.headers.get("Authorization") or ""
        return header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self, method):
        started = time.monotonic()
        self._request_started = started
        self._request_logged = False
        self._request_entry = None
        split = urlsplit(self.path)
        path = split.path
        query = Query(split.query)
        body = self._read_body()
        entry = {"ts": time.time(), "method": method, "path": path, "query": query.as_dict(),
                 "user_agent": self.headers.get("User-Agent", ""), "verb": None, "resource": None,
                 "subresource": None, "namespace": None, "name": None, "apply": False,
                 "dry_run": "dryRun" in query.values, "field_manager": query.get("fieldManager"),
                 "code": None, "fault": None}
        if not path.startswith("/_sandbox"):
            self._request_entry = entry
        try:
            if path.startswith("/_sandbox"):
                if not self._authorized(path):
                    raise errors.unauthorized()
                code, result = self.sandbox.admin.handle(method, path, query, body)
                self._send(code, result)
                return
            entry["code"] = self._dispatch(method, path, query, body, entry)
        except ApiError as exc:
            entry["code"] = exc.code
            self._send_error(exc)
        except (ConnectionError, BrokenPipeError):
            entry["code"] = 0
            self.close_connection = True
        finally:
            if not path.startswith("/_sandbox"):
                self._log_request(entry)

    def send_response(self, code, message=None):
        """Record the request as its status line goes out (watches and exec streams included), so a
        client that has read its answer always finds the request in the log."""
        entry = getattr(self, "_request_entry", None)
        if entry is not None and not self._request_logged:
            entry["code"] = code
            self._log_request(entry)
        super().send_response(code, message)

    def _log_request(self, entry):
        """Record a request once, timed to its status line. Dropped connections are recorded
        before the drop, so a client that sees the connection close can already find its request."""
        if self._request_logged:
            return
        self._request_logged = True
        entry["duration_ms"] = round((time.monotonic() - self._request_started) * 1000, 3)
        self.sandbox.request_log.add(entry)

    def _dispatch(self, method, path, query, body, entry):
        if not self._authorized(path):
            entry["verb"] = "get"
            raise errors.unauthorized()
        parsed = parse_path(self.sandbox.registry, path, "%s:%d" % self.server.server_address[:2])
        route = parsed.route
        if route is not None:
            if parsed.legacy_watch and method == "GET":
                query.values["watch"] = ["true"]
            entry.update({"verb": verb_of(method, route, query), "resource": route.rtype.qualified,
                          "subresource": route.subresource, "namespace": route.namespace, "name": route.name})
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            entry["apply"] = method == "PATCH" and content_type == "application/apply-patch+yaml"
        else:
            entry["verb"] = "get" if method == "GET" else method.lower()
            entry["resource"] = ""
        fault = self.sandbox.faults.decide(entry["verb"], path, entry["apply"])
        if fault is not None:
            entry["fault"] = fault["response"]
            return self._inject(fault, entry)
        if parsed.kind == "document":
            if method != "GET":
                raise errors.method_not_allowed()
            self._send(200, parsed.document)
            return 200
        if parsed.kind == "text":
            self._send(200, parsed.document)
            return 200
        if parsed.kind == "missing":
            raise errors.not_found_path()
        if route.subresource == "exec":
            if method not in ("GET", "POST"):
                raise errors.method_not_allowed()
            return podexec.serve(self, route, query)
        self._check_accept()
        if entry["verb"] == "watch":
            return self._watch(route, query)
        result = self._resource(method, route, query, body, entry["verb"])
        self._send(result.code, result.body, result.headers)
        return result.code

    def _check_accept(self):
        """Only JSON (and YAML) are spoken: a client accepting neither gets 406 rather than a surprise."""
        accept = self.headers.get("Accept")
        if not accept:
            return
        types = [part.split(";")[0].strip() for part in accept.split(",")]
        if not any(t in ("application/json", "application/yaml", "*/*", "application/*", "") for t in types):
            raise ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                           "application/yaml, application/json;stream=watch", {})

    def _inject(self, fault, entry):
        response = fault["response"]
        if response in ("drop", "timeout"):
            if response == "timeout":
                time.sleep(float(fault.get("timeout_seconds", 5)))
            entry["code"] = 0
            self._log_request(entry)
            self._drop()
            return 0
        code = int(response)
        if code == 429:
            retry = int(fault.get("retry_after", 1))
            raise ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                           {"causes": [{"reason": "", "message": ""}], "retryAfterSeconds": retry},
                           {"Retry-After": str(retry)})
        if code == 503:
            raise ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request", {})
        if code == 504:
            raise ApiError(504, "Timeout", "the server was unable to return a response in the time allotted", {})
        raise errors.internal("sandbox injected fault")

    def _resource(self, method, route, query, body, verb):
        api = self.sandbox.api
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if method in ("POST", "PUT") and content_type not in BODY_TYPES:
            raise errors.unsupported_media_type(content_type, ("application/json", "application/yaml"))
        with self.sandbox.store.lock:
            if verb == "get" and route.subresource == "log":
                return api.pod_log(route, query)
            if verb == "get":
                return api.get(route)
            if verb == "list":
                return api.list(route, query)
            if verb == "create":
                if route.subresource == "eviction":
                    return api.evict(route, self._parse(body, content_type), query)
                if not route.collection:
                    raise errors.method_not_allowed()
                return api.create(route, self._parse(body, content_type), query, self.headers.get("User-Agent"))
            if verb == "update":
                if route.collection:
                    raise errors.method_not_allowed()
                if route.subresource == "finalize":
                    route = Route(route.rtype, route.namespace, route.name, None)
                return api.update(route, self._parse(body, content_type), query, self.headers.get("User-Agent"))
            if verb == "patch":
                if route.collection:
                    raise errors.method_not_allowed()
                return api.patch(route, body, self.headers.get("Content-Type"), query,
                                 self.headers.get("User-Agent"))
            if verb == "delete":
                return api.delete(route, body, query)
            if verb == "deletecollection":
                if "deletecollection" not in route.rtype.verbs:
                    raise errors.method_not_allowed()
                return api.delete_collection(route, body, query)
        raise errors.method_not_allowed()

    @staticmethod
    def _parse(body, content_type):
        try:
            if content_type == "application/yaml":
                return yaml.safe_load(body)
            return json.loads(body or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request("couldn't get version/kind; json parse error: %s" % exc) from exc

    # Watch ---------------------------------------------------------------------------------------

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, event_type, obj):
        self._chunk(json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n")

    def _watch(self, route, query):
        rtype = route.rtype
        store = self.sandbox.store
        label_req = selectors.parse_label_selector(query.get("labelSelector"))
        field_req = selectors.parse_field_selector(query.get("fieldSelector"), rtype.kind)
        if route.name:
            field_req.append(("metadata.name", True, route.name))
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true", "True")
        requested = query.get("resourceVersion")
        send_initial = query.get("sendInitialEvents") in ("1", "true", "True")
        settings = self.sandbox.settings

        def selected(obj):
            if obj is None:
                return False
            meta = obj["metadata"]
            if route.namespace and meta.get("namespace") != route.namespace:
                return False
            return selectors.labels_match(label_req, meta.get("labels")) and selectors.fields_match(field_req, obj)

        oldest = store.oldest_rv
        with store.lock:
            if requested in (None, "", "0") or send_initial:
                initial = [obj for obj in store.list(rtype.key, route.namespace) if selected(obj)]
                position = store.rv
                too_old = False
            else:
                try:
                    position = int(requested)
                except ValueError as exc:
                    raise errors.bad_request("invalid resource version: %s" % requested) from exc
                initial = []
                too_old = position < store.oldest_rv
                oldest = store.oldest_rv
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if too_old:
            self._event("ERROR", errors.expired("too old resource version: %d (%d)" % (position, oldest + 1)).body())
            self._chunk(b"")
            return 200
        for obj in initial:
            self._event("ADDED", obj)
        if send_initial and bookmarks:
            self._event("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.group_version, "metadata": {
                "resourceVersion": str(position), "annotations": {"k8s.io/initial-events-end": "true"}}})
        started = time.monotonic()
        deadline = started + timeout
        drop_after = settings.get("watch_drop_after")
        last_bookmark = started
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if drop_after is not None and now - started >= float(drop_after):
                self._drop()
                return 0
            interval = float(settings.get("bookmark_interval") or 1.0)
            with store.changed:
                events = store.events_after(position)
                if not events:
                    store.changed.wait(max(0.0, min(deadline - now, interval, 0.5)))
                    events = store.events_after(position)
                # A watcher that fell behind the kept history would miss events: it must relist.
                expired = position < store.oldest_rv
                oldest = store.oldest_rv
            if expired:
                self._event("ERROR", errors.expired("too old resource version: %d (%d)"
                                                    % (position, oldest + 1)).body())
                break
            for event in events:
                position = event.rv
                if event.key != rtype.key:
                    continue
                was, now_in = selected(event.old), selected(event.obj)
                if event.type == "ADDED" and now_in:
                    self._event("ADDED", event.obj)
                elif event.type == "DELETED" and (was or now_in):
                    self._event("DELETED", event.obj)
                elif event.type == "MODIFIED":
                    if was and now_in:
                        self._event("MODIFIED", event.obj)
                    elif now_in:
                        self._event("ADDED", event.obj)
                    elif was:
                        self._event("DELETED", event.obj)
            if bookmarks and time.monotonic() - last_bookmark >= interval:
                last_bookmark = time.monotonic()
                self._event("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.group_version,
                                         "metadata": {"resourceVersion": str(position)}})
        self._chunk(b"")
        return 200


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sandbox, ssl_context=None):
        super().__init__(address, Handler)
        self.sandbox = sandbox
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request, client_address):
        """Client hang-ups are normal for watches and injected faults; keep stderr quiet."""


def serve_in_thread(server):
    thread = threading.Thread(target=server.serve_forever, name="k8s-sandbox-http", daemon=True)
    thread.start()
    return thread
