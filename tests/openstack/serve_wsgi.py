"""Serve an OpenStack WSGI application on loopback, as the service's container would.

Runs inside the OpenStack venv: ``serve_wsgi.py MODULE:ATTRIBUTE PORT`` (the application
the catalog's uwsgi ``--module`` names). Configuration comes from the environment the
service reads (``OS_KEYSTONE_CONFIG_FILES`` for Keystone). A server from the
standard library stands in for uwsgi, one request at a time like a uwsgi worker with
``--threads 1`` (Keystone's policy enforcer is not safe to initialise from concurrent
threads); the application object is the service's own.
"""
import importlib
import sys
from wsgiref import simple_server


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        sys.stderr.write('%s %s\n' % (self.address_string(), format % args))


def main():
    if len(sys.argv) != 3 or ':' not in sys.argv[1]:
        sys.stderr.write('usage: serve_wsgi.py MODULE:ATTRIBUTE PORT\n')
        return 2
    module_name, attribute = sys.argv[1].split(':', 1)
    port = int(sys.argv[2])
    # The services parse sys.argv for oslo.config options when the application loads.
    sys.argv = sys.argv[:1]
    application = getattr(importlib.import_module(module_name), attribute)
    server = simple_server.make_server('127.0.0.1', port, application, handler_class=_QuietHandler)
    sys.stderr.write('serving %s:%s on 127.0.0.1:%d\n' % (module_name, attribute, port))
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
