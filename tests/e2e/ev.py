#!/usr/bin/env python3
# The event log reader of every end-to-end suite (tests/e2e/lib.sh: ev, assert_event*).
"""Event log reader for the end-to-end tests (docs/events.md).

Usage: ev.py CMD ...
  count FILE FILTER...          lines matching every filter
  sum FIELD FILE FILTER...      "SUM LINES": FIELD summed over the matches
  get FIELD FILE FILTER...      FIELD of the first match (strings bare, else JSON)
  last FIELD FILE FILTER...     FIELD of the last match
  lines FILE FILTER...          the matching lines
  explain FILE FILTER...        why the lines closest to matching do not match
  validate FILE...              every line strict UTF-8, JSON, schema v1
  windows FILE FILTER...        aggregated lines among the matches: each has a
                                window_start, its ts is in [window_start, +1 s],
                                and no window of a key is reported twice
  jget FILE PATH                a value from one JSON document (status --json)

FILTER (FIELD is a dotted path, e.g. grant.id; a number indexes a list,
revoked.0.id, and # is a list's length, revoked.#):
  FIELD=VALUE   equal: strings exactly, numbers numerically, null/true/false
  FIELD:=JSON   equal to the JSON literal, type included ("a\\u00e9", 1, null)
  FIELD!=VALUE  present and not equal
  FIELD~REGEX   a string fully matching REGEX
  FIELD^=TEXT   a string starting with TEXT
  FIELD>N FIELD>=N FIELD<N FIELD<=N   an integer compared with N
  FIELD@A..B    an RFC 3339 time between A and B (microseconds since the epoch)
  +FIELD -FIELD present / absent
  _line=N       the line's 1-based number in the file; _last=true: the last line

Only complete lines (ending in a newline) are read, so a file being written
is never half read. Lines that are not valid UTF-8 JSON objects match nothing
(validate reports them).
"""
import datetime
import json
import re
import sys

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
OPS = re.compile(r"^([A-Za-z0-9_.#]+)(:=|!=|\^=|>=|<=|=|~|>|<|@)(.*)$", re.S)


def bad_constant(name):
    raise ValueError("not JSON: " + name)


def load_line(raw):
    return json.loads(raw.decode("utf-8", "strict"), parse_constant=bad_constant)


def read(path):
    """[(lineno, obj or None, raw)] of the complete lines of path."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    parts = data.split(b"\n")
    parts.pop()  # after the last newline: empty, or a line being written
    out = []
    for i, raw in enumerate(parts, 1):
        try:
            obj = load_line(raw)
        except ValueError:
            obj = None
        out.append((i, obj if isinstance(obj, dict) else None, raw))
    return out


def lookup(obj, path):
    cur = obj
    for part in path.split("."):
        if isinstance(cur, list) and part == "#":
            cur = len(cur)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def ts_us(s):
    if not isinstance(s, str) or not TS_RE.match(s):
        return None
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000000 + d.microsecond


def parse_filter(f):
    if f[:1] in "+-" and OPS.match(f[1:]) is None:
        return (f[1:], "+" if f[0] == "+" else "-", None)
    m = OPS.match(f)
    if not m:
        sys.exit("ev.py: bad filter %r" % f)
    return m.groups()


def check(obj, lineno, last, flt):
    """None when obj passes flt, else why not."""
    field, op, want = flt
    if field == "_line":
        return None if str(lineno) == want else "is line %d" % lineno
    if field == "_last":
        return None if (want == "true") == last else "last=%s" % last
    try:
        got = lookup(obj, field)
    except KeyError:
        return None if op == "-" else "absent"
    shown = json.dumps(got, ensure_ascii=True)
    if op == "+":
        return None
    if op == "-":
        return "present (%s)" % shown
    if op == ":=":
        w = json.loads(want)
        ok = type(got) is type(w) and got == w
        return None if ok else "%s, not %s" % (shown, json.dumps(w, ensure_ascii=True))
    if op in ("=", "!="):
        if got is None:
            eq = want == "null"
        elif isinstance(got, bool):
            eq = want == ("true" if got else "false")
        elif isinstance(got, (int, float)):
            try:
                eq = float(want) == got
            except ValueError:
                eq = False
        elif isinstance(got, str):
            eq = got == want
        else:
            eq = json.dumps(got, separators=(",", ":")) == want
        if (op == "=") == eq:
            return None
        return "%s, wanted %s%s" % (shown, "" if op == "=" else "not ", want)
    if op == "~":
        ok = isinstance(got, str) and re.fullmatch(want, got, re.S) is not None
        return None if ok else "%s does not match /%s/" % (shown, want)
    if op == "^=":
        ok = isinstance(got, str) and got.startswith(want)
        return None if ok else "%s does not start with %s" % (shown, want)
    if op == "@":
        a, b = (int(x) for x in want.split(".."))
        t = ts_us(got)
        if t is None:
            return "%s is not an RFC 3339 UTC microsecond time" % shown
        return None if a <= t <= b else "%s is %+.3f s outside [start, end]" % (
            shown, (t - a) / 1e6 if t < a else (t - b) / 1e6)
    if not is_int(got):
        return "%s is not an integer" % shown
    n = int(want)
    ok = {">": got > n, ">=": got >= n, "<": got < n, "<=": got <= n}[op]
    return None if ok else "%s, wanted %s %s" % (shown, op, want)


def matches(path, filters):
    rows = read(path)
    flts = [parse_filter(f) for f in filters]
    out = []
    for lineno, obj, raw in rows:
        if obj is None:
            continue
        last = lineno == len(rows)
        if all(check(obj, lineno, last, f) is None for f in flts):
            out.append((lineno, obj, raw))
    return out


def explain(path, filters):
    rows = read(path)
    if not rows:
        print("%s: no complete line" % path)
        return
    flts = [parse_filter(f) for f in filters]
    scored = []
    for lineno, obj, raw in rows:
        if obj is None:
            scored.append((len(flts) + 1, lineno, ["not a JSON object"], raw))
            continue
        last = lineno == len(rows)
        why = []
        for f in flts:
            r = check(obj, lineno, last, f)
            if r is not None:
                why.append("%s: %s" % (f[0], r))
        scored.append((len(why), lineno, why, raw))
    scored.sort(key=lambda s: (s[0], s[1]))
    print("%s has %d lines; none matches; the closest:" % (path.rsplit("/", 1)[-1], len(rows)))
    for n, lineno, why, raw in scored[:2]:
        print("  line %d: %s" % (lineno, "; ".join(why)))
        print("    %s" % raw.decode("utf-8", "backslashreplace")[:600])


def strings_ok(v):
    """No lone surrogates (JSON \\ud800 escapes) anywhere in v."""
    if isinstance(v, str):
        try:
            v.encode("utf-8", "strict")
            return True
        except UnicodeEncodeError:
            return False
    if isinstance(v, dict):
        return all(strings_ok(k) and strings_ok(x) for k, x in v.items())
    if isinstance(v, list):
        return all(strings_ok(x) for x in v)
    return True


KERNEL_TYPES = {"connect", "send", "packet", "flow"}
ALERT_RULES = {"scan", "use_after_revoke", "expired_grant_use", "never", "unknown_identity",
               "first_seen", "identity_reuse", "verify_failed"}
SEVERITIES = {"critical", "high", "medium", "low"}
INT_FIELDS = ("partner_id", "dport", "sport", "pid", "tid", "uid", "cgroup_id",
              "cookie", "count")


def validate(paths):
    errors = []
    nlines = 0
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        with open(path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            errors.append("%s: does not end in a newline (a torn line)" % name)
        for i, raw in enumerate(data.split(b"\n")[:-1] if data else [], 1):
            nlines += 1
            where = "%s:%d" % (name, i)
            try:
                text = raw.decode("utf-8", "strict")
            except UnicodeDecodeError as e:
                errors.append("%s: not UTF-8 (%s): %r" % (where, e.reason, raw[:200]))
                continue
            try:
                obj = json.loads(text, parse_constant=bad_constant)
            except ValueError as e:
                errors.append("%s: not JSON (%s): %r" % (where, e, raw[:200]))
                continue
            if not isinstance(obj, dict):
                errors.append("%s: not an object" % where)
                continue
            if not strings_ok(obj):
                errors.append("%s: a string holds a lone surrogate" % where)
            if obj.get("v") != 1 or not is_int(obj.get("v")):
                errors.append("%s: v is %r, not 1" % (where, obj.get("v")))
            if ts_us(obj.get("ts")) is None:
                errors.append("%s: ts %r is not RFC 3339 UTC with microseconds" %
                              (where, obj.get("ts")))
            if not isinstance(obj.get("type"), str):
                errors.append("%s: no type" % where)
            if obj.get("type") in KERNEL_TYPES:
                # local UNIX sockets: a path and a socket type, no address
                where_to = (("path", "socktype") if obj.get("family") == "unix"
                            else ("proto", "dst"))
                for k in ("verdict", "reason", "hook") + where_to:
                    if not isinstance(obj.get(k), str):
                        errors.append("%s: %s missing or not a string" % (where, k))
                if "partner" not in obj:
                    errors.append("%s: no partner field" % where)
            if obj.get("type") == "alert":
                if obj.get("rule") not in ALERT_RULES:
                    errors.append("%s: rule %r unknown" % (where, obj.get("rule")))
                if obj.get("severity") not in SEVERITIES:
                    errors.append("%s: severity %r unknown" % (where, obj.get("severity")))
                for k in ("message", "key"):
                    if not isinstance(obj.get(k), str):
                        errors.append("%s: %s missing or not a string" % (where, k))
                if "partner" not in obj or not is_int(obj.get("count")):
                    errors.append("%s: no partner or count" % where)
            for k in INT_FIELDS:
                if k in obj and not is_int(obj[k]):
                    errors.append("%s: %s is %r, not an integer" % (where, k, obj[k]))
    for e in errors[:8]:
        print(e)
    if len(errors) > 8:
        print("... and %d more" % (len(errors) - 8))
    if not errors:
        print("%d lines in %d files: valid" % (nlines, len(paths)))
    return 1 if errors else 0


def windows(path, filters):
    errors, seen = [], set()
    n = 0
    for lineno, obj, _ in matches(path, filters):
        if obj.get("aggregated") is not True:
            continue
        n += 1
        ws, ts = ts_us(obj.get("window_start")), ts_us(obj.get("ts"))
        if ws is None or ts is None:
            errors.append("line %d: window_start %r / ts %r" % (lineno, obj.get("window_start"),
                                                                 obj.get("ts")))
            continue
        # ts is the last attempt, inside the window; printed in whole
        # microseconds (truncated), so it may show as the window's end
        if not ws <= ts <= ws + 1000000:
            errors.append("line %d: ts %s outside its window [%s, +1 s)" % (
                lineno, obj["ts"], obj["window_start"]))
        key = (obj.get("partner_id"), obj.get("dst"), obj.get("dport"), obj.get("proto"),
               obj.get("reason"), obj["window_start"])
        if key in seen:
            errors.append("line %d: window %s reported twice" % (lineno, obj["window_start"]))
        seen.add(key)
    for e in errors[:5]:
        print(e)
    if not errors:
        print("%d aggregated lines, each in its window" % n)
    return 1 if errors or not n else 0


def jget(path, expr):
    with open(path, "rb") as f:
        cur = json.loads(f.read().decode("utf-8", "strict"))
    for part in expr.split("."):
        if part == "#":
            cur = len(cur)
        elif part.startswith("[") and part.endswith("]"):
            k, v = part[1:-1].split("=", 1)
            found = None
            for x in cur:
                got = x.get(k)
                if (got is None and v == "null") or (got is not None and str(got) == v):
                    found = x
                    break
            if found is None:
                print("<none>")
                return
            cur = found
        elif isinstance(cur, list):
            cur = cur[int(part)]
        else:
            if part not in cur:
                print("<absent>")
                return
            cur = cur[part]
    print(cur if isinstance(cur, str) else json.dumps(cur, ensure_ascii=True))


def main(argv):
    cmd = argv[1]
    if cmd == "count":
        print(len(matches(argv[2], argv[3:])))
    elif cmd == "sum":
        rows = matches(argv[3], argv[4:])
        total = 0
        for _, obj, _ in rows:
            try:
                v = lookup(obj, argv[2])
            except KeyError:
                continue
            total += v if is_int(v) else 0
        print(total, len(rows))
    elif cmd in ("get", "last"):
        rows = matches(argv[3], argv[4:])
        if not rows:
            print("<none>")
            return 0
        try:
            v = lookup(rows[0 if cmd == "get" else -1][1], argv[2])
        except KeyError:
            print("<absent>")
            return 0
        print(v if isinstance(v, str) else json.dumps(v, ensure_ascii=True))
    elif cmd == "lines":
        for _, _, raw in matches(argv[2], argv[3:]):
            print(raw.decode("utf-8", "backslashreplace"))
    elif cmd == "explain":
        explain(argv[2], argv[3:])
    elif cmd == "validate":
        return validate(argv[2:])
    elif cmd == "windows":
        return windows(argv[2], argv[3:])
    elif cmd == "jget":
        jget(argv[2], argv[3])
    else:
        sys.exit("ev.py: unknown command " + cmd)
    return 0


sys.exit(main(sys.argv))
