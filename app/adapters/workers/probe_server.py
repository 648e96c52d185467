"""The probe server: a process that has imported the Agents SDK once and forks one child per probe.

Started by the gateway (``app.adapters.workers.probe``) with one end of a ``SOCK_SEQPACKET``
socket pair. Each message is a msgpack ``ProbeRequest`` carrying the write end of a pipe
(``socket.send_fds``); the server forks, the child judges the drop-in and writes its verdict to
the pipe, and the server answers with the child's pid so the gateway can kill it at the deadline.
Children are reaped automatically (``SIGCHLD`` ignored). The server leaves when the gateway's
end of the socket closes, so it never outlives the gateway.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys

from app.adapters.workers.probe_child import prepare, run

MAX_REQUEST = 1 << 22


def serve(sock: socket.socket) -> None:
    before = prepare()  # inherited by every child: each probe only takes the "after" picture
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies: nobody waits for probes
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST, 1)
        except OSError:
            return
        if not data or not fds:
            return  # the gateway went away
        pid = os.fork()
        if pid == 0:
            sock.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            run(data, fds[0], before)  # never returns
        os.close(fds[0])
        sock.send(struct.pack("!i", pid))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway decides when probes stop
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
