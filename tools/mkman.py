#!/usr/bin/env python3
# bulkhead(8) from the binary's own help: mkman.py BINARY TEMPLATE > bulkhead.8.
# The command list comes from `bulkhead --help`, each command's synopsis,
# description and options from `bulkhead CMD --help`; TEMPLATE (man/bulkhead.8.in)
# holds the hand-written sections around them (@COMMANDS@, @VERSION@, @DATE@).
# So the manual has every command and option the binary has, by construction.
import datetime, os, re, subprocess, sys

binary, template = sys.argv[1:3]


def helptext(*args):
    return subprocess.run([binary, *args], capture_output=True, text=True,
                          check=True).stdout


def esc(s, dash=False):
    """Plain help text -> roff: escapes, `code` in bold (its - as \\-);
    dash: every - is an option's minus (\\-)."""
    s = s.replace("\\", "\\e")
    if dash:
        return s.replace("-", "\\-")
    return re.sub(r"`([^`]*)`", lambda m: "\\fB%s\\fR" % m.group(1).replace("-", "\\-"), s)


def line(s):
    return "\\&" + s if s.startswith((".", "'")) else s


def paragraphs(lines):
    out, cur = [], []
    for l in lines + [""]:
        if l.strip():
            cur.append(l.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    return out


OPT = re.compile(r"^  (-\w, )?(--[\w-]+)( [A-Z][A-Z]*)?\s{2,}(.*)$")


def command(name):
    text = helptext(name, "--help").rstrip("\n").split("\n")
    usage, i = [], 0
    while i < len(text) and text[i].strip():
        usage.append(text[i].strip().removeprefix("Usage: "))
        i += 1
    desc, opts = [], []
    for l in text[i:]:
        m = OPT.match(l)
        if m:
            opts.append([m.group(1) or "", m.group(2), (m.group(3) or "").strip(), m.group(4)])
        elif opts and l.startswith("     ") and l.strip():
            opts[-1][3] += " " + l.strip()
        elif not opts:
            desc.append(l)
    out = [".SS \"%s\"" % esc(name), ".nf", "\\fB%s\\fR" % esc(" ".join(usage), True), ".fi"]
    for p in paragraphs(desc):
        out += [".PP", line(esc(p))]
    for short, lng, arg, helps in opts:
        flag = "\\fB%s%s\\fR" % (esc(short, True), esc(lng, True)) + (" \\fI%s\\fR" % arg if arg else "")
        out += [".TP", flag, line(esc(helps))]
    return out


top = helptext("--help").split("\n")
names, on = [], False
for l in top:
    if l.startswith("Commands:"):
        on = True
        continue
    m = re.match(r"^  (\w+)\s+(.*)$", l)
    if on and m:
        names.append(m.group(1))
    elif on and not l.strip() and names:
        break
body = []
for n in names:
    if n != "help":
        body += command(n)
ver = helptext("--version").split()[1]
epoch = int(os.environ.get("SOURCE_DATE_EPOCH", datetime.datetime.now().timestamp()))
date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d")
tmpl = open(template).read()
sys.stdout.write(tmpl.replace("@COMMANDS@", "\n".join(body)).replace("@VERSION@", ver)
                 .replace("@DATE@", date))
