"""Runs last: the sandbox process logged no exception while serving the whole suite."""


def test_no_tracebacks_in_sandbox_log(k8s_sandbox):
    """A background controller or handler error would be a sandbox bug hidden behind a retry."""
    log = k8s_sandbox.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
