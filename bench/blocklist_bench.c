/* blocklist_bench.c -- load time and memory per name of a generated block list
 * (rules.block-domain-files), for base/domainset and, for comparison, dns/names (the
 * structure behind rules.block-domains: one fixed 256-byte slot a name).
 *
 *   build/bench_blocklist [NAMES]      (default 200000)
 *
 * Writes a hosts-format file of NAMES distinct names (lengths like a public ad list's) to
 * /tmp, then prints: file size, load + sort time, the set's bytes and bytes per name, the
 * process's resident-set growth, and lookup rate (half hits, half misses). Two other
 * designs are measured beside it: dns/names.c as it is, and a table of 64-bit name hashes
 * (open addressing, at most half full; written here only for the comparison). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "base/domainset.h"
#include "dns/names.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

/* Name i: a random label of 4..14 letters, the index, and one of a few hundred parents. */
static int gen_name(size_t i, char *out, size_t len)
{
	static const char *const tld[] = { "com", "net", "org", "io", "cn", "info", "xyz" };
	char a[16], b[12];
	unsigned la = 4 + next() % 11, lb = 3 + next() % 8;

	for (unsigned k = 0; k < la; k++)
		a[k] = (char)('a' + next() % 26);
	a[la] = '\0';
	for (unsigned k = 0; k < lb; k++)
		b[k] = (char)('a' + next() % 26);
	b[lb] = '\0';
	return snprintf(out, len, "%s%zx.%s.%s", a, i, b, tld[next() % 7]);
}

/* The hash-table alternative: 64-bit FNV-1a of the lowercased name, linear probing. */
static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32u : c)) * 0x100000001b3ull;
	}
	return h ? h : 1;
}

struct hset {
	uint64_t *v;
	size_t mask;
};

static void hset_add(struct hset *h, uint64_t k)
{
	size_t i = (size_t)k & h->mask;

	while (h->v[i] && h->v[i] != k)
		i = (i + 1) & h->mask;
	h->v[i] = k;
}

static bool hset_has(const struct hset *h, uint64_t k)
{
	size_t i = (size_t)k & h->mask;

	while (h->v[i]) {
		if (h->v[i] == k)
			return true;
		i = (i + 1) & h->mask;
	}
	return false;
}

static bool hset_match(const struct hset *h, const char *q, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((i == 0 || q[i - 1] == '.') && hset_has(h, fnv(q + i, len - i)))
			return true;
	return false;
}

static void bench_hash(const char *path, size_t n, struct str_list *l)
{
	struct hset h;
	size_t cap = 1;
	FILE *f;
	char *line = NULL;
	size_t lcap = 0, hits = 0;
	ssize_t len;
	double t0, t1;

	while (cap < 2 * n)
		cap <<= 1;
	t0 = now_ms();
	h.v = calloc(cap, sizeof(*h.v));
	h.mask = cap - 1;
	f = fopen(path, "r");
	if (!h.v || !f) {
		free(h.v);
		if (f)
			fclose(f);
		return;
	}
	/* The same hosts lines: skip the address, hash the name. */
	while ((len = getline(&line, &lcap, f)) > 0) {
		char *sp = strchr(line, ' ');
		if (line[0] == '#' || !sp || !strncmp(sp + 1, "localhost", 9))
			continue;
		sp++;
		hset_add(&h, fnv(sp, strcspn(sp, " \n")));
	}
	t1 = now_ms();
	fclose(f);
	free(line);
	printf("hash set (64-bit hashes, no names kept), for comparison: load %.1f ms; %zu bytes = "
	       "%.1f bytes/name\n", t1 - t0, cap * sizeof(*h.v), (double)(cap * sizeof(*h.v)) / (double)n);
	t0 = now_ms();
	for (size_t i = 0; i < 1000000; i++) {
		char q[96];
		int ql;
		if (i % 2)
			ql = snprintf(q, sizeof(q), "www.%s", l->v[i % l->n]);
		else
			ql = snprintf(q, sizeof(q), "x%zu.unlisted-%zu.example.com", i, i);
		hits += hset_match(&h, q, (size_t)ql);
	}
	t1 = now_ms();
	printf("hash set: 1M lookups (half hits) in %.0f ms; %zu hits\n", t1 - t0, hits);
	free(h.v);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000, line, col, bytes;
	char path[] = "/tmp/snet-bench-blocklist.XXXXXX", name[64], msg[160];
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	struct str_list l = { 0 };
	struct domainset *s;
	double t0, t1, t2;
	long r0, r1;
	size_t hits = 0;

	if (!f || n == 0) {
		perror("bench_blocklist");
		return 1;
	}
	l.v = calloc(n, sizeof(*l.v));
	fputs("# generated block list\n127.0.0.1 localhost\n", f);
	for (size_t i = 0; i < n; i++) {
		gen_name(i, name, sizeof(name));
		fprintf(f, "0.0.0.0 %s\n", name);
		l.v[l.n++] = strdup(name);
	}
	fclose(f);

	r0 = rss_kib();
	t0 = now_ms();
	s = domainset_new();
	if (domainset_load_file(s, path, &line, &col, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "%s:%zu:%zu: %s\n", path, line, col, msg);
		return 1;
	}
	t1 = now_ms();
	domainset_seal(s);
	t2 = now_ms();
	r1 = rss_kib();
	bytes = domainset_bytes(s);
	{
		FILE *g = fopen(path, "r");
		long sz = 0;
		if (g) {
			fseek(g, 0, SEEK_END);
			sz = ftell(g);
			fclose(g);
		}
		printf("block list: %zu names, hosts format, %.1f MB file\n", domainset_count(s),
		       (double)sz / 1e6);
	}
	printf("domainset: load %.1f ms (read+parse %.1f, sort+pack %.1f); %zu bytes = %.1f "
	       "bytes/name; RSS +%ld KiB\n", t2 - t0, t1 - t0, t2 - t1, bytes,
	       (double)bytes / (double)domainset_count(s), r1 - r0);

	/* Lookups: the listed names' subdomains (hits) and unlisted names (misses). */
	t0 = now_ms();
	for (size_t i = 0; i < 1000000; i++) {
		char q[96];
		int len;
		if (i % 2)
			len = snprintf(q, sizeof(q), "www.%s", l.v[i % l.n]);
		else
			len = snprintf(q, sizeof(q), "x%zu.unlisted-%zu.example.com", i, i);
		hits += domainset_match_text(s, q, (size_t)len);
	}
	t1 = now_ms();
	printf("domainset: 1M lookups (half hits) in %.0f ms, %.2f us each; %zu hits\n", t1 - t0,
	       (t1 - t0) * 1e3 / 1e6, hits);
	domainset_unref(s);

	/* The existing fixed-slot structure, for comparison (names already in memory). */
	{
		char err[160];
		struct dns_names *dn;
		r0 = rss_kib();
		t0 = now_ms();
		dn = dns_names_new(&l, err, sizeof(err));
		t1 = now_ms();
		r1 = rss_kib();
		printf("dns_names (block-domains' set), for comparison: build %.1f ms from memory; "
		       "RSS +%ld KiB = %.1f bytes/name\n", t1 - t0, r1 - r0,
		       (double)(r1 - r0) * 1024 / (double)n);
		dns_names_free(dn);
	}
	bench_hash(path, n, &l);
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	unlink(path);
	return hits == 500000 ? 0 : 1;
}
