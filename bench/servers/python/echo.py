"""Echo server on Python's standard selectors module, for the bench.

It is the server of the Python articles (DefaultSelector, a callback in
each key's data, called with the file object and the mask), made correct:
every socket is non-blocking, a send that takes part of the reply keeps the
rest and watches EVENT_WRITE instead of EVENT_READ until it drains, a reset
closes only its own connection, and nothing is printed per message.

Usage: python3 echo.py [-addr 127.0.0.1:0] [-lifetime 600]

Its first line on stdout is "listening on <host:port> (python)".
"""

import argparse
import selectors
import socket
import sys
import time

READ_SIZE = 64 * 1024
ACCEPT_BURST = 64

sel = selectors.DefaultSelector()
pending = {}  # socket -> memoryview of the reply not sent yet


def accept(sock, mask):
    for _ in range(ACCEPT_BURST):
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionAbortedError:
            continue
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(conn, selectors.EVENT_READ, read)


def close(conn):
    sel.unregister(conn)
    pending.pop(conn, None)
    conn.close()


def read(conn, mask):
    try:
        data = conn.recv(READ_SIZE)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        close(conn)
        return
    if not data:
        close(conn)
        return
    try:
        sent = conn.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        close(conn)
        return
    if sent < len(data):
        pending[conn] = memoryview(data)[sent:]
        # Stop reading until the reply drains: back-pressure.
        sel.modify(conn, selectors.EVENT_WRITE, write)


def write(conn, mask):
    rest = pending[conn]
    try:
        sent = conn.send(rest)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        close(conn)
        return
    rest = rest[sent:]
    if rest:
        pending[conn] = rest
        return
    del pending[conn]
    sel.modify(conn, selectors.EVENT_READ, read)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-addr", default="127.0.0.1:0",
                        help="listen on host:port (port 0 picks one)")
    parser.add_argument("-lifetime", type=float, default=600,
                        help="exit after this many seconds, whatever happens")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(4096)
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, accept)
    bound = sock.getsockname()
    print("listening on %s:%d (python)" % bound, flush=True)

    # The bench kills the server after each run; this is the bound if the
    # script itself is killed first.
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        for key, mask in sel.select(timeout=1.0):
            callback = key.data
            callback(key.fileobj, mask)
    return 3


if __name__ == "__main__":
    sys.exit(main())
