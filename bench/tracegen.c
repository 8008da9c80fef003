// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tracegen: a synthetic event log for the `bulkhead trace` benchmark
 * (bench/run.sh, section trace). Writes DIR/acme.jsonl.3.gz, acme.jsonl.2.gz,
 * acme.jsonl.1, acme.jsonl (a rotated chain, oldest first, the two oldest
 * gzipped), DIR/beta.jsonl and DIR/host.jsonl, about MIB MiB of JSON Lines in
 * all (uncompressed), in the schema of docs/events.md: denied connects (single
 * and aggregated), flow new and summary lines, packets, alerts, policy grant
 * and revoke lines and loss lines, over a fixed set of 300 destinations x 20
 * ports, so the report's size does not grow with the log.
 *
 *   tracegen DIR MIB
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

struct out {
	gzFile gz;
	FILE *f;
	uint64_t bytes;
};

static int64_t ts_us = 1764547200000000LL;	/* 2025-12-01T00:00:00Z */

static void fmt_ts(int64_t us, char *buf, size_t len)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + 19, len - 19, ".%06lldZ", (long long)(us % 1000000));
}

static void put(struct out *o, const char *line, int n)
{
	if (o->gz)
		gzwrite(o->gz, line, (unsigned int)n);
	else
		fwrite(line, 1, (size_t)n, o->f);
	o->bytes += (uint64_t)n;
}

static int open_out(struct out *o, const char *dir, const char *name)
{
	char path[4096];
	size_t l;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	l = strlen(path);
	memset(o, 0, sizeof(*o));
	if (l > 3 && !strcmp(path + l - 3, ".gz"))
		o->gz = gzopen(path, "wb1");
	else
		o->f = fopen(path, "w");
	if (!o->gz && !o->f) {
		perror(path);
		return -1;
	}
	return 0;
}

static void close_out(struct out *o)
{
	if (o->gz)
		gzclose(o->gz);
	if (o->f)
		fclose(o->f);
}

/* One line of partner p, kind chosen by r. */
static int line(char *buf, size_t len, const char *p, int pid, unsigned int r)
{
	char ts[40], ws[40];
	unsigned int host = r % 300, port = 8000 + (r / 300) % 20, kind = (r / 7) % 100;
	int n;

	ts_us += 37;
	fmt_ts(ts_us, ts, sizeof(ts));
	if (kind < 45)
		n = snprintf(buf, len, "{\"v\":1,\"ts\":\"%s\",\"type\":\"connect\",\"partner\":\"%s\",\"partner_id\":%d,\"verdict\":\"deny\",\"reason\":\"no_grant\",\"hook\":\"connect\",\"proto\":\"tcp\",\"dst\":\"10.%u.%u.%u\",\"dport\":%u,\"pid\":%u,\"tid\":%u,\"uid\":0,\"comm\":\"scanner\",\"cgroup\":\"partners.slice/%s.service\",\"cgroup_id\":81041,\"cookie\":%u,\"count\":1}\n",
			     ts, p, pid, 30 + host / 100, host % 100, 1 + host % 7, port, 15000 + r % 5000, 15000 + r % 5000, p, 1322600 + r);
	else if (kind < 60) {
		fmt_ts(ts_us - 900000, ws, sizeof(ws));
		n = snprintf(buf, len, "{\"v\":1,\"ts\":\"%s\",\"type\":\"connect\",\"partner\":\"%s\",\"partner_id\":%d,\"verdict\":\"deny\",\"reason\":\"no_grant\",\"hook\":\"connect\",\"proto\":\"tcp\",\"dst\":\"10.%u.%u.%u\",\"dport\":%u,\"count\":%u,\"aggregated\":true,\"window_start\":\"%s\"}\n",
			     ts, p, pid, 30 + host / 100, host % 100, 1 + host % 7, port, 1 + r % 2000, ws);
	} else if (kind < 75)
		n = snprintf(buf, len, "{\"v\":1,\"ts\":\"%s\",\"type\":\"flow\",\"phase\":\"new\",\"partner\":\"%s\",\"partner_id\":%d,\"verdict\":\"allow\",\"reason\":\"granted\",\"grant\":{\"id\":\"%s/1\",\"purpose\":\"billing api\"},\"hook\":\"connect\",\"proto\":\"tcp\",\"dst\":\"10.20.1.%u\",\"dport\":443,\"pid\":%u,\"tid\":%u,\"uid\":0,\"comm\":\"curl\",\"cgroup\":\"partners.slice/%s.service\",\"cgroup_id\":81041,\"cookie\":%u,\"count\":1}\n",
			     ts, p, pid, p, 10 + host % 10, 15000 + r % 5000, 15000 + r % 5000, p, 1322600 + r);
	else if (kind < 92)
		n = snprintf(buf, len, "{\"v\":1,\"ts\":\"%s\",\"type\":\"flow\",\"phase\":\"summary\",\"partner\":\"%s\",\"partner_id\":%d,\"verdict\":\"allow\",\"reason\":\"granted\",\"grant\":{\"id\":\"%s/1\",\"purpose\":\"billing api\"},\"hook\":\"egress\",\"proto\":\"tcp\",\"dst\":\"10.20.1.%u\",\"dport\":443,\"count\":1,\"interval\":10,\"tx_bytes\":%u,\"tx_packets\":%u,\"rx_bytes\":%u,\"rx_packets\":%u,\"total_tx_bytes\":%u,\"total_rx_bytes\":%u}\n",
			     ts, p, pid, p, 10 + host % 10, 300 + r % 1000, 5 + r % 10, 300 + r % 900, 5 + r % 9, 300 + r % 100000, 300 + r % 90000);
	else if (kind < 96)
		n = snprintf(buf, len, "{\"v\":1,\"ts\":\"%s\",\"type\":\"packet\",\"partner\":\"%s\",\"partner_id\":%d,\"verdict\":\"deny\",\"reason\":\"never\",\"hook\":\"egress\",\"proto\":\"icmp\",\"src\":\"10.30.0.1\",\"dst\":\"169.254.169.254\",\"pid\":%u,\"uid\":0,\"comm\":\"probe\",\"cgroup\":\"partners.slice/%s.service\",\"cgroup_id\":81041,\"cookie\":%u,\"count\":1}\n",
			     ts, p, pid, 15000 + r % 5000, p, 1322600 + r);
	else
		n = snprintf(buf, len, "{\"v\":1,\"ts\":\"%s\",\"type\":\"alert\",\"partner\":\"%s\",\"partner_id\":%d,\"verdict\":\"deny\",\"reason\":\"never\",\"hook\":\"egress\",\"proto\":\"icmp\",\"src\":\"10.30.0.1\",\"dst\":\"169.254.169.254\",\"pid\":%u,\"uid\":0,\"comm\":\"probe\",\"cgroup\":\"partners.slice/%s.service\",\"cgroup_id\":81041,\"cookie\":%u,\"count\":1,\"what\":\"never\"}\n",
			     ts, p, pid, 15000 + r % 5000, p, 1322600 + r);
	return n;
}

static void policy_line(struct out *o, int j)
{
	char ts[40], ex[40], buf[1024];
	int n;

	fmt_ts(ts_us, ts, sizeof(ts));
	fmt_ts(ts_us + 900000000LL, ex, sizeof(ex));
	if (j % 2 == 0)
		n = snprintf(buf, sizeof(buf), "{\"v\":1,\"ts\":\"%s\",\"type\":\"policy\",\"partner\":\"acme\",\"action\":\"grant\",\"caller\":{\"uid\":0,\"pid\":17935,\"comm\":\"bulkhead\"},\"grant\":{\"id\":\"acme/j%d\",\"partner\":\"acme\",\"to\":\"10.%d.0.0/24\",\"proto\":\"tcp\",\"ports\":[\"8000-8019\"],\"purpose\":\"INC-%d\",\"source\":\"jit\",\"expires\":\"%s\",\"remaining_s\":900.0,\"state\":\"live\"}}\n",
			     ts, j / 2 + 1, 30 + (j / 2) % 3, j, ex);
	else
		n = snprintf(buf, sizeof(buf), "{\"v\":1,\"ts\":\"%s\",\"type\":\"policy\",\"partner\":\"acme\",\"action\":\"revoke\",\"caller\":{\"uid\":0,\"pid\":18294,\"comm\":\"bulkhead\"},\"revoked\":[{\"id\":\"acme/j%d\",\"partner\":\"acme\",\"to\":\"10.%d.0.0/24\",\"proto\":\"tcp\",\"ports\":[\"8000-8019\"],\"purpose\":\"INC-%d\",\"source\":\"jit\"}]}\n",
			     ts, j / 2 + 1, 30 + (j / 2) % 3, j - 1);
	put(o, buf, n);
}

int main(int argc, char **argv)
{
	static const char *const chain[] = { "acme.jsonl.3.gz", "acme.jsonl.2.gz", "acme.jsonl.1",
					     "acme.jsonl" };
	struct out beta, host, cur;
	uint64_t target, per, done = 0;
	unsigned int r = 12345;
	char buf[2048];
	int i, j = 0;
	uint64_t nl = 0;

	if (argc != 3 || (target = strtoull(argv[2], NULL, 10) << 20) == 0) {
		fprintf(stderr, "usage: tracegen DIR MIB\n");
		return 2;
	}
	per = target * 7 / 10 / 4;	/* acme's chain: 70 %, beta 25 %, host the rest */
	if (open_out(&beta, argv[1], "beta.jsonl") || open_out(&host, argv[1], "host.jsonl"))
		return 1;
	for (i = 0; i < 4; i++) {
		if (open_out(&cur, argv[1], chain[i]))
			return 1;
		while (cur.bytes < per) {
			int n;

			r = r * 1103515245u + 12345u;
			n = line(buf, sizeof(buf), "acme", 1, r >> 4);
			put(&cur, buf, n);
			if (((r >> 4) & 3) == 0) {
				n = line(buf, sizeof(buf), "beta", 2, (r >> 8) * 7);
				put(&beta, buf, n);
			}
			if (++nl % 200000 == 0)
				policy_line(&cur, j++);
			if (nl % 100000 == 50000) {
				char ts[40];

				fmt_ts(ts_us, ts, sizeof(ts));
				n = snprintf(buf, sizeof(buf), "{\"v\":1,\"ts\":\"%s\",\"type\":\"loss\",\"what\":\"ring\",\"count\":%u}\n", ts, 1 + (r >> 20));
				put(&host, buf, n);
			}
		}
		done += cur.bytes;
		close_out(&cur);
	}
	while (done + beta.bytes + host.bytes < target) {
		char ts[40];
		int n;

		ts_us += 1000;
		fmt_ts(ts_us, ts, sizeof(ts));
		n = snprintf(buf, sizeof(buf), "{\"v\":1,\"ts\":\"%s\",\"type\":\"lifecycle\",\"event\":\"start\",\"pid\":1,\"pin_dir\":\"/sys/fs/bpf/bulkhead\",\"policy\":\"/etc/bulkhead/policy.json\"}\n", ts);
		put(&host, buf, n);
	}
	close_out(&beta);
	close_out(&host);
	return 0;
}
