# results.json -> results.md (jq -r). A section without samples is left out.

def commas: (round | tostring) as $s
	| if ($s | startswith("-")) then "-" + ($s[1:] | tonumber | commas)
	  else [$s | explode | reverse | _nwise(3) | reverse | implode] | reverse | join(",") end;
def dp($n): (. * pow(10; $n) | round) / pow(10; $n) | tostring;
def pct: if . == null then "" else (. * 1000 | round / 10 | tostring) + " %" end;
def mib: . / 1048576 | dp(1);

.summary as $s
| def g($sec; $case; $metric; $cfg): $s | map(select(.section == $sec and .case == $case and
						     .metric == $metric and .config == $cfg)) | first;
  def cell($sec; $case; $metric; $cfg; f):
	g($sec; $case; $metric; $cfg) as $x
	| if $x == null then "–"
	  elif $x.ratio == null then ($x.median | f)
	  else "\($x.median | f) (\($x.ratio | pct))" end;
  def cases($sec): [$s[] | select(.section == $sec) | .case] | unique;
  def sizes: [$s[] | select(.section == "scale") | .case | tonumber] | unique | map(tostring);
  def measured: if .measured == null then "–"
	elif .unit != null then "\(.measured | dp(1)) \(.unit)"
	elif .threshold == 1 then "\(.measured * 100 | dp(1)) % of nftables"
	elif .threshold < 1 then (.measured | pct)
	elif .threshold > 1000 then (.measured | commas)
	else (.measured | dp(2)) + " s" end;
  def tput($m): if $m == "gbit_per_s" then dp(2) else commas end;

"Machine: \(.machine.nproc) × \(.machine.cpu), kernel \(.machine.kernel); bulkhead \(.machine.bulkhead); \(.machine.nft); \(.machine.iperf3).",
"Run: \(.machine.date), \(.machine.rounds) interleaved rounds, \(.machine.parameters); took \(.machine.duration); load average at the end \(.machine.loadavg_at_end).",
"Cells are medians over the rounds; in parentheses the ratio of that median to the median with no enforcement in the same run.",
"",
"### Targets",
"",
"| target | measured | met | detail |",
"|---|---|---|---|",
(.targets[] | "| \(.target) | \(measured) | \(if .met == null then "not measured" elif .met then "**met**" else "**not met**" end) | \(.detail) |"),

(if (cases("connect") | length) == 0 then empty else
	"",
	"### 1. Connect rate (TCP connect, 1-byte request and response, close; connections/s)",
	"",
	"| path | no enforcement | bulkhead, partner | bulkhead, non-partner | nftables, partner | nftables, non-partner |",
	"|---|---|---|---|---|---|",
	(cases("connect")[] as $c
	 | "| \($c) | \(cell("connect"; $c; "conn_per_s"; "none"; commas)) | \(cell("connect"; $c; "conn_per_s"; "bh-partner"; commas)) | \(cell("connect"; $c; "conn_per_s"; "bh-outside"; commas)) | \(cell("connect"; $c; "conn_per_s"; "nft-partner"; commas)) | \(cell("connect"; $c; "conn_per_s"; "nft-outside"; commas)) |")
end),

(if (cases("throughput") | length) == 0 then empty else
	"",
	"### 2. Throughput (iperf3 TCP stream in Gbit/s; 64-byte UDP datagrams in packets/s)",
	"",
	"| workload | metric | no enforcement | bulkhead, partner | bulkhead, non-partner | nftables, partner |",
	"|---|---|---|---|---|---|",
	(cases("throughput")[] as $c
	 | ([$s[] | select(.section == "throughput" and .case == $c) | .metric] | unique)[] as $m
	 | "| \($c) | \($m) | \(cell("throughput"; $c; $m; "none"; tput($m))) | \(cell("throughput"; $c; $m; "bh-partner"; tput($m))) | \(cell("throughput"; $c; $m; "bh-outside"; tput($m))) | \(cell("throughput"; $c; $m; "nft-partner"; tput($m))) |")
end),

(if (sizes | length) == 0 then empty else
	"",
	"### 3. Scale (random /32, /24, /16, /128, /64 grant prefixes; connect rate over veth to a granted prefix)",
	"",
	"| prefixes | `bulkhead check` (compile) | `bulkhead run` to ready (apply) | trie memory (memlock) | trie bytes per prefix | all bulkhead maps | nft -f (load) | nft kernel memory (approx.) | connect, no enforcement | connect, bulkhead | connect, nftables | bulkhead / nftables |",
	"|---|---|---|---|---|---|---|---|---|---|---|---|",
	(sizes[] as $n
	 | g("scale"; $n; "conn_per_s"; "bulkhead") as $b | g("scale"; $n; "conn_per_s"; "nft") as $f
	 | "| \($n | tonumber | commas) | \(cell("scale"; $n; "check_s"; "bulkhead"; dp(3) + " s")) | \(cell("scale"; $n; "apply_s"; "bulkhead"; dp(3) + " s")) | \(cell("scale"; $n; "trie_bytes"; "bulkhead"; mib + " MiB")) | \(g("scale"; $n; "trie_bytes"; "bulkhead") | if . == null then "–" else (.median / ($n | tonumber) | dp(0)) + " B" end) | \(cell("scale"; $n; "maps_bytes"; "bulkhead"; mib + " MiB")) | \(cell("scale"; $n; "load_s"; "nft"; dp(3) + " s")) | \(cell("scale"; $n; "kmem_delta_bytes"; "nft"; mib + " MiB")) | \(cell("scale"; $n; "conn_per_s"; "none"; commas)) | \(cell("scale"; $n; "conn_per_s"; "bulkhead"; commas)) | \(cell("scale"; $n; "conn_per_s"; "nft"; commas)) | \(if $b == null or $f == null then "–" else ($b.median / $f.median | pct) end) |")
end),

(if (cases("hooks") | length) == 0 then empty else
	cases("hooks") as $w
	| ([$s[] | select(.section == "hooks") | .config] | unique) as $p
	| "",
	  "### 4. Per-hook cost (bpf_stats: run_time_ns / run_cnt, ns per run; runs in parentheses)",
	  "",
	  ("| program | " + ($w | join(" | ")) + " |"),
	  ("|---|" + ($w | map("---|") | join(""))),
	  ($p[] as $prog | "| \($prog) | " + ($w | map(. as $c
		| g("hooks"; $c; "ns_per_run"; $prog) as $x | g("hooks"; $c; "runs"; $prog) as $r
		| if $x == null or $r.median < 100 then "–" else "\($x.median | dp(0)) (\($r.median | commas))" end) | join(" | ")) + " |"),
	  "",
	  "Cells with fewer than 100 runs (a workload's one or two setup sockets: cold caches) are left out; results.json has them."
end),

(if (cases("conncost") | length) == 0 then empty else
	(cases("conncost") | sort_by(tonumber)) as $n
	| ([$s[] | select(.section == "conncost" and .config != "total" and .metric == "runs_per_conn" and .median >= 0.01) | .config] | unique) as $p
	| "",
	  "### 4b. BPF time per partner connection (bpf_stats over the loopback CRR loop from the partner cgroup; ns per run, runs per connection in parentheses)",
	  "",
	  ("| program | " + ($n | map("\(tonumber | commas) grants") | join(" | ")) + " |"),
	  ("|---|" + ($n | map("---|") | join(""))),
	  ($p[] as $prog | "| \($prog) | " + ($n | map(. as $c
		| g("conncost"; $c; "ns_per_run"; $prog) as $x | g("conncost"; $c; "runs_per_conn"; $prog) as $r
		| if $x == null then "–" else "\($x.median | dp(0)) (\($r.median | dp(2)))" end) | join(" | ")) + " |"),
	  ("| **total per connection** | " + ($n | map(. as $c | g("conncost"; $c; "ns_per_conn"; "total")
		| if . == null then "–" else "**\(.median | commas) ns**" end) | join(" | ")) + " |")
end),

(if (cases("revoke") | length) == 0 then empty else
	"",
	"### 4c. Revoke latency (wall time of `bulkhead revoke` of a just-in-time grant; it returns once the kernel enforces it)",
	"",
	"| grant prefixes in the policy | median | min | max |",
	"|---|---|---|---|",
	(cases("revoke") | sort_by(tonumber)[] as $n | g("revoke"; $n; "revoke_ms"; "bulkhead")
	 | "| \($n | tonumber | commas) | \(.median | dp(1)) ms | \(.min | dp(1)) ms | \(.max | dp(1)) ms |")
end),

(if (cases("events") | length) == 0 then empty else
	"",
	"### 5. Events (denied connects to distinct tuples, each a first-of-window event; daemon alone on one CPU)",
	"",
	"| offer | offered attempts/s | ring events/s | JSON lines written/s | ring losses | lost % | flood map full | daemon CPU | lines per daemon CPU-second |",
	"|---|---|---|---|---|---|---|---|---|",
	(["max", "1x", "2x", "4x"][] as $l | select(g("events"; $l; "lines_per_s"; "bulkhead") != null)
	 | "| \(if $l == "max" then "as fast as the generator goes" else "\($l) the sustainable rate" end) | \(cell("events"; $l; "offered_per_s"; "bulkhead"; commas)) | \(cell("events"; $l; "ring_events_per_s"; "bulkhead"; commas)) | \(cell("events"; $l; "lines_per_s"; "bulkhead"; commas)) | \(cell("events"; $l; "lost_ring_full"; "bulkhead"; commas)) | \(cell("events"; $l; "lost_pct"; "bulkhead"; dp(2) + " %")) | \(cell("events"; $l; "flood_map_full"; "bulkhead"; commas)) | \(cell("events"; $l; "daemon_cpu_pct"; "bulkhead"; dp(0) + " %")) | \(cell("events"; $l; "lines_per_cpu_s"; "bulkhead"; commas)) |"),
	(g("events"; "sustainable"; "lines_per_s"; "bulkhead") as $x | if $x == null then empty
	 else "", "Sustainable rate (1x): \($x.median | commas) events/s, the highest offer, in steps of 1.25x from what the writer got out with the generator flat out, that ran without ring loss and with lines written at >= 95 % of the offer." end)
end),

(if (cases("scan") | length) == 0 then empty else
	"",
	"### 7. Scan of 65,535 ports of one host at full speed (denied connects; counted exactly, one alert per host)",
	"",
	"| attempts | attempts/s | counted (sum of counts) | scan alerts | lines written | daemon CPU-seconds |",
	"|---|---|---|---|---|---|",
	"| \(cell("scan"; "one-host"; "attempts"; "bulkhead"; commas)) | \(cell("scan"; "one-host"; "attempts_per_s"; "bulkhead"; commas)) | \(cell("scan"; "one-host"; "counted"; "bulkhead"; commas)) | \(cell("scan"; "one-host"; "scan_alerts"; "bulkhead"; commas)) | \(cell("scan"; "one-host"; "lines"; "bulkhead"; commas)) | \(cell("scan"; "one-host"; "daemon_cpu_s"; "bulkhead"; dp(2))) |"
end),

(if (cases("trace") | length) == 0 then empty else
	"",
	"### 6. bulkhead trace --summary (generated log: a rotated chain with two gzipped files, a second partner, host.jsonl; one CPU)",
	"",
	"| log size | lines | lines/s (wall clock) | lines per CPU-second | peak RSS |",
	"|---|---|---|---|---|",
	(cases("trace") | sort_by(rtrimstr("MiB") | tonumber)[] as $c
	 | "| \($c) | \(cell("trace"; $c; "lines"; "bulkhead"; commas)) | \(cell("trace"; $c; "lines_per_s"; "bulkhead"; commas)) | \(cell("trace"; $c; "lines_per_cpu_s"; "bulkhead"; commas)) | \(cell("trace"; $c; "rss_mib"; "bulkhead"; dp(1) + " MiB")) |")
end),

(if (cases("soak") | length) == 0 then empty else
	"",
	"### 7. soak: the daemon's memory under connection churn",
	"",
	"| duration | connections/s | distinct flows | VmRSS at start (after 10 s) | VmRSS at end | VmRSS max | flow map full |",
	"|---|---|---|---|---|---|---|",
	"| \(cell("soak"; "churn"; "secs"; "bulkhead"; commas)) s | \(cell("soak"; "churn"; "conn_per_s"; "bulkhead"; commas)) | 100,000 | \(cell("soak"; "churn"; "rss_start_kib"; "bulkhead"; commas)) KiB | \(cell("soak"; "churn"; "rss_end_kib"; "bulkhead"; commas)) KiB | \(cell("soak"; "churn"; "rss_max_kib"; "bulkhead"; commas)) KiB | \(cell("soak"; "churn"; "flow_map_full"; "bulkhead"; commas)) |"
end)
