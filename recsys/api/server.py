"""Run the API app on a real socket in a background thread (tests, benchmarks, notebooks).

Example::

    with serve_in_background(create_app(store)) as url:      # "http://127.0.0.1:54321"
        boto3.client("personalize-runtime", endpoint_url=url, ...)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

import uvicorn


@contextlib.contextmanager
def serve_in_background(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread until the block exits; yields the base URL.

    `port=0` picks a free port. Shutdown is graceful: in-flight requests finish first.
    """
    # protocol IPPROTO_TCP (not 0), so asyncio sets TCP_NODELAY on accepted connections (no 40 ms ACK waits)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"recsys-api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"The API server did not start on {host}:{port}.")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
