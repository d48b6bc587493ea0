"""A small client for the sandbox's /_sandbox control endpoints (standard library only)."""
import json
import ssl
import time
import urllib.error
import urllib.request


class SandboxControl:
    """Drive a running sandbox: settings, reset, request log, nodes, snapshot."""

    def __init__(self, url, token=None, ca_file=None, timeout=30):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._context = None
        if self.url.startswith("https"):
            self._context = ssl.create_default_context(cafile=ca_file) if ca_file else \
                ssl._create_unverified_context()  # pylint: disable=protected-access

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + "/_sandbox/" + path.lstrip("/"), data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise RuntimeError("sandbox control %s %s failed: %s %s" % (method, path, exc.code,
                                                                        exc.read().decode(errors="replace"))) from exc

    def health(self):
        return self._call("GET", "health")

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def settings(self, **update):
        """Return the settings; with keyword arguments, merge them in first."""
        if update:
            return self._call("POST", "settings", update)
        return self._call("GET", "settings")

    def reset(self, keep_settings=False):
        return self._call("POST", "reset", {"keep_settings": keep_settings})

    def request_log(self, since=0):
        return self._call("GET", "requests?since=%s" % since)["items"]

    def counts_by_verb(self, since=0):
        """{"get": n, "list": n, "watch": n, "create": n, "update": n, "patch": n, "apply": n, "delete": n, ...}

        Server-side apply requests count under "apply" only; discovery requests under "discovery".
        """
        return self._call("GET", "requests?since=%s" % since)["counts"]

    def clear_request_log(self):
        return self._call("DELETE", "requests")

    def add_node(self, name, labels=None, taints=None, unschedulable=False):
        return self._call("POST", "nodes", {"name": name, "labels": labels or {}, "taints": taints or [],
                                            "unschedulable": unschedulable})

    def snapshot(self):
        return self._call("GET", "snapshot")

    def flush(self):
        return self._call("POST", "flush")
