"""A loopback Kubernetes API server for tests and the README demo.

The official ``kubernetes`` client talks to it unmodified through a kubeconfig. It keeps
objects in memory (optionally persisted to a state directory), fills defaults, validates
against the JSON schemas shipped by ``kubernetes-validate``, implements the three patch
types and server-side apply with managedFields, watches, selectors, finalizers and
garbage collection, and simulates the controllers a deployment tool waits on.
See docs/k8s-sandbox.md for what is faithful and what is not.
"""

VERSION = "1.37.0"
