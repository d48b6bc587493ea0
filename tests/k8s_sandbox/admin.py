"""Control endpoints under /_sandbox (a path no Kubernetes client uses).

GET  /_sandbox/health                 -> {"ok": true}
GET  /_sandbox/settings               -> current settings
POST /_sandbox/settings  {...}        -> merge keys into the settings
POST /_sandbox/reset  {"keep_settings": false} -> fresh cluster state, request log kept
GET  /_sandbox/requests?since=TS      -> {"items": [...], "counts": {verb: n}}
DELETE /_sandbox/requests             -> clear the request log
POST /_sandbox/nodes {"name", "labels", "taints", "unschedulable"} -> the new Node
GET  /_sandbox/snapshot               -> every stored object and the current resourceVersion
POST /_sandbox/flush                  -> write the state directory now
"""
import json

from .errors import ApiError


class Admin:
    def __init__(self, sandbox):
        self.sandbox = sandbox

    @staticmethod
    def _body(raw):
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", "sandbox admin: body is not JSON: %s" % exc) from exc
        return value if value is not None else {}

    def handle(self, method, path, query, raw):
        sandbox = self.sandbox
        action = path[len("/_sandbox"):].strip("/")
        if action == "health":
            return 200, {"ok": True}
        if action == "settings":
            if method == "GET":
                return 200, sandbox.settings
            if method in ("POST", "PUT", "PATCH"):
                try:
                    return 200, sandbox.update_settings(self._body(raw), replace=method == "PUT")
                except KeyError as exc:
                    raise ApiError(400, "BadRequest", str(exc)) from exc
        if action == "reset" and method == "POST":
            sandbox.reset(keep_settings=bool(self._body(raw).get("keep_settings")))
            return 200, {"ok": True, "resourceVersion": str(sandbox.store.rv)}
        if action == "requests":
            if method == "GET":
                items = sandbox.request_log.read(float(query.get("since") or 0))
                return 200, {"items": items, "counts": sandbox.request_log.counts(items)}
            if method == "DELETE":
                sandbox.request_log.clear()
                return 200, {"ok": True}
        if action == "nodes" and method == "POST":
            return 201, sandbox.add_node(self._body(raw))
        if action == "snapshot" and method == "GET":
            return 200, sandbox.store.snapshot()
        if action == "flush" and method == "POST":
            sandbox.store.flush()
            return 200, {"ok": True}
        raise ApiError(404, "NotFound", "unknown sandbox admin endpoint %s %s" % (method, path))
