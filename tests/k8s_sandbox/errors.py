"""Status bodies shaped like the real API server's (metav1.Status)."""


class ApiError(Exception):
    """An error answered as a ``kind: Status`` body."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(rtype, name):
    details = {"name": name}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    return details


def not_found(rtype, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rtype.qualified, name), _details(rtype, name))


def namespace_not_found(name):
    return ApiError(404, "NotFound", 'namespaces "%s" not found' % name, {"name": name, "kind": "namespaces"})


def already_exists(rtype, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rtype.qualified, name), _details(rtype, name))


def conflict(rtype, name, why=None):
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (rtype.qualified, name, why),
                    _details(rtype, name))


def apply_conflict(rtype, name, conflicts):
    """conflicts: list of (manager_description, field) pairs."""
    causes = [{"type": "FieldManagerConflict", "message": "conflict with %s" % who, "field": field}
              for who, field in conflicts]
    if len(conflicts) == 1:
        message = "Apply failed with 1 conflict: conflict with %s: %s" % conflicts[0]
    else:
        message = "Apply failed with %d conflicts: %s" % (
            len(conflicts), "\n".join("conflict with %s: %s" % pair for pair in conflicts))
    details = _details(rtype, name)
    details["causes"] = causes
    return ApiError(409, "Conflict", message, details)


class Cause:
    """One field error, rendered like k8s.io/apimachinery field.Error."""

    REQUIRED = "FieldValueRequired"
    INVALID = "FieldValueInvalid"
    FORBIDDEN = "FieldValueForbidden"
    NOT_SUPPORTED = "FieldValueNotSupported"
    DUPLICATE = "FieldValueDuplicate"
    TOO_LONG = "FieldValueTooLong"
    NOT_FOUND = "FieldValueNotFound"
    TOO_MANY = "FieldValueTooMany"

    _PREFIX = {
        REQUIRED: "Required value",
        INVALID: "Invalid value",
        FORBIDDEN: "Forbidden",
        NOT_SUPPORTED: "Unsupported value",
        DUPLICATE: "Duplicate value",
        TOO_LONG: "Too long",
        NOT_FOUND: "Not found",
        TOO_MANY: "Too many",
    }

    def __init__(self, reason, field, detail="", value=None, show_value=None):
        self.reason = reason
        self.field = field
        self.detail = detail
        self.value = value
        if show_value is None:
            show_value = reason in (self.INVALID, self.NOT_SUPPORTED, self.DUPLICATE, self.NOT_FOUND)
        self.show_value = show_value

    def message(self):
        text = self._PREFIX[self.reason]
        if self.show_value:
            text += ": " + go_repr(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def render(self):
        return {"reason": self.reason, "message": self.message(), "field": self.field}


def go_repr(value):
    if isinstance(value, str):
        return '"%s"' % value.replace('"', '\\"')
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def invalid(kind, group, name, causes):
    qualified = "%s.%s" % (kind, group) if group else kind
    texts = ["%s: %s" % (c.field, c.message()) for c in causes]
    summary = texts[0] if len(texts) == 1 else "[%s]" % ", ".join(texts)
    details = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [c.render() for c in causes]
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qualified, name, summary), details)


def forbidden(message, details=None):
    return ApiError(403, "Forbidden", message, details)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                    {})


def unsupported_media_type(content_type, accepted):
    return ApiError(415, "UnsupportedMediaType",
                    '%s is not supported, the body of the request was in an unknown format - accepted media types '
                    'include: %s' % (content_type, ", ".join(accepted)))


def expired(message):
    return ApiError(410, "Expired", message)


def gone(message):
    return ApiError(410, "Gone", message)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def internal(message):
    return ApiError(500, "InternalError", "Internal error occurred: %s" % message,
                    {"causes": [{"message": message}]})


def not_found_path():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
