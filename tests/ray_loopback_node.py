"""`ray start` for a second Ray node on the same machine, bound to and advertised on 127.0.0.1.

Ray keeps a local cluster on loopback only when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, but the
same switch makes `ray start --address=...` refuse to add a worker node, and with it set to 1
Ray rewrites 127.0.0.1 into the machine's network address. Tests must not open ports beyond
loopback, so this wrapper allows the worker node and keeps the address it is given.
Usage: python tests/ray_loopback_node.py start --address=127.0.0.1:PORT --node-ip-address=127.0.0.1 ...
"""

import sys

import ray._private.ray_constants as ray_constants
import ray._private.services as services

ray_constants.ENABLE_RAY_CLUSTER = True
services.resolve_ip_for_localhost = lambda host: host

from ray.scripts.scripts import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "ray"
    sys.exit(main())
