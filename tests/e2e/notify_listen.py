#!/usr/bin/env python3
# The service manager's side of sd_notify for test_notify.sh: listen on the
# datagram socket ADDR (a path, or @name for the abstract namespace), write
# every message as one JSON line {"pid": sender, "msg": text} to LOG. On the
# first READY=1 the sender is frozen (SIGSTOP) before anything is logged,
# FROZEN is created and the sender is resumed only once GO exists: the test
# inspects the kernel while the daemon can do nothing more than it had done
# when it said READY. Exits when STOP exists (polled every 50 ms).
import json, os, signal, socket, struct, sys, time

addr, log, frozen, go, stop = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(0.05)
open(log + ".listening", "w").close()
ready_seen = False
with open(log, "a") as out:
    while not os.path.exists(stop):
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        pid = -1
        for lvl, typ, val in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", val[:12])[0]
        msg = data.decode()
        first_ready = not ready_seen and "READY=1" in msg.split("\n")
        if first_ready and pid > 0:
            os.kill(pid, signal.SIGSTOP)
        out.write(json.dumps({"pid": pid, "msg": msg}) + "\n")
        out.flush()
        if first_ready:
            ready_seen = True
            open(frozen, "w").write(str(pid))
            while not os.path.exists(go) and not os.path.exists(stop):
                time.sleep(0.05)
            if pid > 0:
                os.kill(pid, signal.SIGCONT)
