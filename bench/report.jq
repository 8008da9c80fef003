# Summarise build/bench/raw.tsv (read with jq -R -s) into results.json:
# medians per (section, case, metric, config), the ratio of each median to
# the baseline's median from the same run, the median of the per-round ratios
# (each round's sample over that round's baseline sample), and the targets.
# $machine: [ {date, cpu, nproc, kernel, ...} ] (--slurpfile).

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[(length - 1) / 2]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;

def baseline_of($section; $metric):
	if ($section == "connect" or $section == "throughput") then "none"
	elif ($section == "scale" and $metric == "conn_per_s") then "none"
	else null end;

def round3: . * 1000 | round / 1000;

(split("\n") | map(select(length > 0) | split("\t")
	| {section: .[0], case: .[1], config: .[2], round: (.[3] | tonumber),
	   metric: .[4], value: (.[5] | tonumber)})) as $samples
| ($samples | group_by([.section, .case, .metric, .config]) | map({
	section: .[0].section, case: .[0].case, metric: .[0].metric, config: .[0].config,
	n: length, median: (map(.value) | median), min: (map(.value) | min),
	max: (map(.value) | max), rounds: map({round, value})
  })) as $groups
| ($groups | map(. as $g
	| baseline_of($g.section; $g.metric) as $b
	| ($groups | map(select(.section == $g.section and .case == $g.case and
				 .metric == $g.metric and .config == $b)) | first) as $base
	| $g + (if $b == null or $base == null or $g.config == $b then {baseline: $b}
		else {baseline: $b,
		      ratio: (if $base.median > 0 then ($g.median / $base.median | round3) else null end),
		      paired_ratio: ([$g.rounds[] as $x | $base.rounds[] | select(.round == $x.round and .value > 0)
				      | $x.value / .value] | median | if . == null then null else round3 end)}
		end))) as $summary
| def pick($s; $c; $m; $cfg): $summary | map(select(.section == $s and .case == $c and
						    .metric == $m and .config == $cfg)) | first;
  def ratios($s; $cases; $metrics; $cfg): [$summary[] | select(.section == $s and
	(.case as $c | $cases | index($c)) and (.metric as $m | $metrics | index($m)) and
	.config == $cfg and .ratio != null)];
  def ratio_target($name; $s; $cases; $metrics; $cfg; $thr):
	ratios($s; $cases; $metrics; $cfg) as $r
	| {target: $name, threshold: $thr,
	   measured: (if ($r | length) == 0 then null else ($r | map(.ratio) | min) end),
	   detail: ($r | map("\(.case) \(.metric) \(.ratio * 100 * 10 | round / 10) %") | join(", "))}
	| .met = (if .measured == null then null else .measured >= $thr end);
  def at_most($name; $s; $c; $m; $cfg; $thr; $unit; $how):
	pick($s; $c; $m; $cfg) as $x
	| {target: $name, threshold: $thr, unit: $unit,
	   measured: (if $x == null then null else ($x.median | round3) end),
	   detail: (if $x == null then "not measured" else "\($how); median of \($x.n)" end)}
	| .met = (if .measured == null then null else .measured <= $thr end);
{
  machine: $machine[0],
  summary: $summary,
  targets: [
    ratio_target("partner connect rate >= 97 % of no enforcement"; "connect";
		 ["veth", "loopback"]; ["conn_per_s"]; "bh-partner"; 0.97),
    ratio_target("non-partner connect rate >= 99.5 % of no enforcement"; "connect";
		 ["veth", "loopback"]; ["conn_per_s"]; "bh-outside"; 0.995),
    ratio_target("partner TCP stream >= 99 % of no enforcement"; "throughput";
		 ["tcp-veth", "tcp-loopback"]; ["gbit_per_s"]; "bh-partner"; 0.99),
    ratio_target("partner 64-byte UDP >= 95 % of no enforcement (sent and received pps)"; "throughput";
		 ["udp64-veth", "udp64-loopback"]; ["sent_pps", "recv_pps"]; "bh-partner"; 0.95),
    (pick("scale"; "100000"; "conn_per_s"; "bulkhead") as $b
     | pick("scale"; "100000"; "conn_per_s"; "nft") as $n
     | {target: "bulkhead at least as fast as nftables at 100k prefixes (connect rate)",
	threshold: 1,
	measured: (if $b == null or $n == null or $n.median == 0 then null
		   else ($b.median / $n.median | round3) end),
	detail: (if $b == null or $n == null then "not measured"
		 else "bulkhead \($b.median | round) conn/s, nftables \($n.median | round) conn/s" end)}
     | .met = (if .measured == null then null else .measured >= 1 end)),
    ratio_target("partner connect rate >= 95 % of no enforcement, unpinned"; "connect";
		 ["loopback-unpinned"]; ["conn_per_s"]; "bh-partner"; 0.95),
    at_most("BPF time per partner connection <= 1,000 ns at 100k grants"; "conncost"; "100000";
	    "ns_per_conn"; "total"; 1000; "ns"; "bpf_stats, loopback CRR"),
    at_most("bh_sock_create <= 200 ns at 100k grants"; "conncost"; "100000";
	    "ns_per_run"; "bh_sock_create"; 200; "ns"; "bpf_stats, loopback CRR"),
    (pick("scale"; "1000000"; "apply_s"; "bulkhead") as $a
     | {target: "1M grants applied in <= 2.5 s (bulkhead run start to ready)", threshold: 2.5,
	measured: (if $a == null then null else ($a.median | round3) end),
	detail: (if $a == null then "not measured" else "median of \($a.n) starts" end)}
     | .met = (if .measured == null then null else .measured <= 2.5 end)),
    (pick("scale"; "1000000"; "trie_bytes"; "bulkhead") as $t
     | {target: "1M grants: <= 150 bytes per prefix in the kernel (trie memlock)", threshold: 150, unit: "B",
	measured: (if $t == null then null else ($t.median / 1000000 | round3) end),
	detail: (if $t == null then "not measured" else "\($t.median / 1048576 | round) MiB of trie" end)}
     | .met = (if .measured == null then null else .measured <= 150 end)),
    at_most("revoke at 100k prefixes <= 20 ms"; "revoke"; "100000"; "revoke_ms"; "bulkhead"; 20; "ms";
	    "wall time of bulkhead revoke"),
    at_most("revoke at 1M prefixes <= 25 ms"; "revoke"; "1000000"; "revoke_ms"; "bulkhead"; 25; "ms";
	    "wall time of bulkhead revoke"),
    (pick("events"; "max"; "lines_per_cpu_s"; "bulkhead") as $c
     | pick("events"; "max"; "lines_per_s"; "bulkhead") as $w
     | {target: ">= 300,000 JSON lines/s written on one core", threshold: 300000,
	measured: (if $c == null then null else ($c.median | round) end),
	detail: (if $c == null then "not measured"
		 else "lines per daemon CPU-second; wall clock \($w.median | round) lines/s with the generator on the other core" end)}
     | .met = (if .measured == null then null else .measured >= 300000 end)),
    (pick("trace"; "1024MiB"; "lines_per_cpu_s"; "bulkhead") as $c
     | pick("trace"; "1024MiB"; "lines_per_s"; "bulkhead") as $w
     | pick("trace"; "100MiB"; "rss_mib"; "bulkhead") as $r1
     | pick("trace"; "1024MiB"; "rss_mib"; "bulkhead") as $r2
     | {target: "trace --summary >= 500,000 lines/s on one core over 1 GiB (mixed plain and .gz)",
	threshold: 500000,
	measured: (if $c == null then null else ($c.median | round) end),
	detail: (if $c == null then "not measured"
		 else "lines per CPU-second; wall clock \($w.median | round) lines/s; peak RSS \($r1.median // "?") MiB at 100 MiB, \($r2.median) MiB at 1 GiB" end)}
     | .met = (if .measured == null then null else .measured >= 500000 end))
  ],
  samples: $samples
}
