#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The ECS mapping of docs/shipping.md, applied to real event lines.

    ecs_map.py [--show] [FILE...]

Reads the mapping table ("## Elastic Common Schema mapping") from
docs/shipping.md as it is written, maps every JSON line of FILE (default: the
example lines of docs/events.md, captured from the daemon) onto ECS, and
checks each result: every field of the line is mapped by some row (no field
left over), and the ECS document has ECS's types (@timestamp RFC 3339, IP
addresses, ports as numbers 0-65535, labels.* and user.id as strings,
event.outcome and network.* among ECS's values, rule.* on lines with a
grant). One case per line; prints "N passed, N failed". --show prints each
ECS document.
"""
import ipaddress
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPUTED = {"event.kind", "event.category", "event.type", "event.outcome",
            "network.type", "rule.ruleset"}
STRINGS = ("labels.", "user.id")


def table(doc):
    """(renames, kept, computed) from the mapping table: renames maps a
    bulkhead field to its ECS fields, kept the fields under bulkhead.*."""
    text = doc.read_text(encoding="utf-8")
    sec = text.split("## Elastic Common Schema mapping", 1)[1].split("\n## ", 1)[0]
    renames, kept, computed = {}, set(), set()
    for row in sec.splitlines():
        cols = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cols) < 2 or not row.startswith("| ") or set(cols[0]) <= set("-"):
            continue
        src = re.findall(r"`([^`]+)`", cols[0])
        dst = re.findall(r"`([^`]+)`", cols[1])
        if src and dst == ["bulkhead.*"]:
            kept.update(src)
        elif all(d in COMPUTED for d in dst):
            computed.update(dst)
        elif len(src) == len(dst):
            for s, d in zip(src, dst):
                renames.setdefault(s, []).append(d)
        elif src != ["bulkhead field"]:
            raise SystemExit(f"{doc}: a row this test cannot read: {row}")
    missing = COMPUTED - computed
    if missing:
        raise SystemExit(f"{doc}: no row for the computed fields {sorted(missing)}")
    return renames, kept


def flat(o, prefix=""):
    for k, v in o.items():
        if isinstance(v, dict) and v:
            yield from flat(v, prefix + k + ".")
        else:
            yield prefix + k, v


def put(doc, dotted, value):
    *path, last = dotted.split(".")
    for p in path:
        doc = doc.setdefault(p, {})
    doc[last] = value


def get(doc, dotted):
    for p in dotted.split("."):
        if not isinstance(doc, dict) or p not in doc:
            return None
        doc = doc[p]
    return doc


def to_ecs(line, renames, kept):
    """The ECS document of line, and the fields no row maps."""
    doc, unmapped = {}, []
    for k, v in flat(line):
        if k in renames:
            for d in renames[k]:
                if v is None or (d == "network.transport" and v == "other"):
                    continue
                if d.startswith("event.") and d in COMPUTED:
                    continue
                put(doc, d, str(v) if d.startswith(STRINGS) else v)
        elif k in kept:
            put(doc, "bulkhead." + k, v)
        else:
            unmapped.append(k)
    verdict = line.get("verdict")
    put(doc, "event.kind", "alert" if line.get("type") == "alert" else "event")
    if verdict is not None:
        put(doc, "event.category", ["network"])
        put(doc, "event.type", ["connection", "denied" if verdict == "deny" else "allowed"])
        put(doc, "event.outcome", "failure" if verdict == "deny" else "success")
    if line.get("dst"):
        ip = ipaddress.ip_address(line["dst"])
        put(doc, "network.type", "ipv%d" % ip.version)
    if isinstance(line.get("grant"), dict) and line["grant"].get("id"):
        put(doc, "rule.ruleset", "bulkhead")
        if get(doc, "rule.name") is None:
            put(doc, "rule.name", line["grant"]["id"])
    return doc, unmapped


def check(doc, line):
    """ECS's types: a list of problems (empty: none)."""
    bad = []
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(doc.get("@timestamp"))):
        bad.append(f"@timestamp {doc.get('@timestamp')!r}")
    for f in ("source.ip", "destination.ip"):
        if get(doc, f) is not None:
            try:
                ipaddress.ip_address(get(doc, f))
            except ValueError:
                bad.append(f"{f} {get(doc, f)!r} is no IP address")
    for f in ("source.port", "destination.port"):
        v = get(doc, f)
        if v is not None and not (isinstance(v, int) and 0 <= v <= 65535):
            bad.append(f"{f} {v!r}")
    for f, ok in (("event.outcome", {"success", "failure", "unknown"}),
                  ("network.transport", {"tcp", "udp", "icmp"}),
                  ("network.type", {"ipv4", "ipv6"}),
                  ("event.kind", {"event", "alert"})):
        if get(doc, f) is not None and get(doc, f) not in ok:
            bad.append(f"{f} {get(doc, f)!r}")
    for k, v in (doc.get("labels") or {}).items():
        if not isinstance(v, str):
            bad.append(f"labels.{k} {v!r} is no string")
    if get(doc, "user.id") is not None and not isinstance(get(doc, "user.id"), str):
        bad.append("user.id is no string")
    if line.get("verdict") is not None:
        # a UNIX socket decision names a socket path, not an IP and transport
        unix = line.get("family") == "unix"
        need = ("event.outcome", "event.action") + (
            ("destination.address",) if unix else ("destination.ip", "network.transport"))
        for f in need:
            if get(doc, f) is None and not (f == "network.transport" and line.get("proto") == "other"):
                bad.append(f"no {f} on a line with a verdict")
        if line.get("partner") is not None and get(doc, "labels.partner") != line["partner"]:
            bad.append("labels.partner")
    if isinstance(line.get("grant"), dict) and line.get("verdict") is not None:
        if not (get(doc, "rule.id") and get(doc, "rule.name")):
            bad.append("rule.id/rule.name missing on a line with a grant")
    return bad


def lines_of(paths):
    for p in paths:
        for n, text in enumerate(Path(p).read_text(encoding="utf-8").splitlines(), 1):
            if text.startswith('{"v":'):
                yield f"{p}:{n}", json.loads(text)


def main(argv):
    show = "--show" in argv
    files = [a for a in argv if a != "--show"] or [ROOT / "docs/events.md"]
    renames, kept = table(ROOT / "docs/shipping.md")
    npass = nfail = 0
    types = set()
    for where, line in lines_of(files):
        doc, unmapped = to_ecs(line, renames, kept)
        bad = check(doc, line)
        if unmapped:
            bad.append(f"fields no row of the table maps: {', '.join(unmapped)}")
        types.add(line.get("type"))
        if show:
            print(json.dumps(doc, sort_keys=True))
        if bad:
            nfail += 1
            print(f"FAIL {where} ({line.get('type')}): {'; '.join(bad)}")
        else:
            npass += 1
    if not npass + nfail:
        print("FAIL no event lines read")
        nfail = 1
    print(f"lines of types {', '.join(sorted(t for t in types if t))}", file=sys.stderr)
    print(f"{npass} passed, {nfail} failed")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
