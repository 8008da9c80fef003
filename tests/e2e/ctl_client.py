#!/usr/bin/env python3
# A raw client of the daemon's control socket for tests/e2e/test_single.sh:
# what the bulkhead CLI never sends (nothing, one byte a second, bad JSON,
# too much). Prints the reply line the daemon sent (or "<eof>"); on stderr
# "reply_at=EPOCH_S sent=BYTES".
#   ctl_client.py SOCK send TEXT    TEXT as given, EOF, then read the reply
#   ctl_client.py SOCK silent       connect, send nothing, read the reply
#   ctl_client.py SOCK drip TEXT    one byte of TEXT a second until a reply comes
#   ctl_client.py SOCK big N        N bytes of "x" (no newline), then read the reply
import select
import socket
import sys
import time


def read_reply(s, buf=b""):
    while b"\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf


def main():
    path, mode = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    sent = 0
    buf = b""
    if mode == "send":
        s.sendall(sys.argv[3].encode())
        sent = len(sys.argv[3].encode())
        s.shutdown(socket.SHUT_WR)	# as the CLI does: EOF ends the request
        buf = read_reply(s)
    elif mode == "silent":
        buf = read_reply(s)
    elif mode == "drip":
        text = sys.argv[3].encode()
        while True:
            r, _, _ = select.select([s], [], [], 1.0)
            if r:
                buf = read_reply(s)
                break
            if sent < len(text):
                try:
                    s.send(text[sent:sent + 1])
                    sent += 1
                except OSError:
                    buf = read_reply(s)
                    break
    elif mode == "big":
        chunk = b"x" * 65536
        left = int(sys.argv[3])
        s.setblocking(False)
        while left > 0:
            r, w, _ = select.select([s], [s], [], 30)
            if r:
                break
            if not w:
                break
            try:
                n = s.send(chunk[:left])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                break
            sent += n
            left -= n
        s.setblocking(True)
        buf = read_reply(s)
    print(buf.decode(errors="replace").rstrip("\n") if buf else "<eof>")
    print("reply_at=%.3f sent=%d" % (time.time(), sent), file=sys.stderr)


main()
