#!/bin/sh
# A man page from one of docs/*.md: md2man.sh FILE NAME SECTION DESCRIPTION.
# pandoc (gfm in, man out) does the conversion; the document's first heading
# becomes the NAME section and its ## sections the page's sections. Tables become lists first (one item a row, each
# cell named by its column), as wide tables do not fit a terminal and make
# groff warn. The page is made at build time from the document, so the two
# cannot drift. Output: left-adjusted, no hyphenation (code and JSON words).
set -eu
file=$1 name=$2 sec=$3 desc=$4
ver=$("$(dirname "$0")/version.sh" --plain | sed 's/ .*//')
{
	printf '# NAME\n\n%s - %s\n\n' "$name" "$desc"
	sed '1{/^# /d}' "$file" | awk '
		function cells(line, arr,   n, i) {
			sub(/^[ \t]*\|/, "", line); sub(/\|[ \t]*$/, "", line)
			gsub(/\\\|/, "\001", line)	# an escaped | inside a cell
			n = split(line, arr, /\|/)
			for (i = 1; i <= n; i++) {
				gsub(/^[ \t]+|[ \t]+$/, "", arr[i]); gsub("\001", "\\|", arr[i])
			}
			return n
		}
		!started && /[^ \t]/ { started = 1; if ($0 !~ /^## /) print "# DESCRIPTION\n" }
		/^## Name$/ { skip = 1; next }
		/^## / { skip = 0 }
		skip { next }
		/^```/ { code = !code }
		!code && /^\|/ {
			if (!intab) { nh = cells($0, head); intab = 1; sep = 1; next }
			if (sep) { sep = 0; next }	# the |---|---| line
			n = cells($0, c)
			item = "- " c[1]
			for (i = 2; i <= n; i++)
				if (c[i] != "" && c[i] != "—")
					item = item (i == 2 ? ": " : "; ") "*" head[i] "*: " c[i]
			print item
			next
		}
		intab { intab = 0; print "" }
		!code && /^##+ / { sub(/^#/, "") }	# ## is a man section, ### a subsection
		{ print }'
} | pandoc -f gfm -t man -s \
	-M title="$name" -M section="$sec" -M header="bulkhead manual" \
	-M footer="bulkhead $ver" -M date="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)" |
	sed 's/^\.TH "\([^"]*\)"/.TH "\U\1\E"/; /^\.hy$/d; /^\.TH /a\
.na\
.nh\
.\\" U+FFFD (the sanitised-string example) where the device has no glyph\
.if !c\\[uFFFD] .char \\[uFFFD] ?'
