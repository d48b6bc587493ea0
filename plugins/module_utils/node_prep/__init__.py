# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host preparation for the node_prep module: defaults by role, a pure planner, and the
adapter through which every read and write of the host goes (see host.py)."""
