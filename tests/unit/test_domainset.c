/* test_domainset.c -- base/domainset: suffix matching (text and wire form), case, trailing
 * dots, duplicates; the block-list reader on hosts files and plain lists, its bad lines
 * (FILE:LINE:COL via the config), and rules.block-domain-files through config_load_buffer. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/domainset.h"
#include "tests/unit/check.h"

static char dir[] = "/tmp/snet-test-domainset.XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

static bool has(const struct domainset *s, const char *name)
{
	return domainset_match_text(s, name, strlen(name));
}

/* Text name to wire form (no escapes) for the wire matcher. */
static size_t to_wire(const char *text, uint8_t *out)
{
	size_t o = 0, len = strlen(text);
	const char *p = text, *end = text + len;

	if (len && text[len - 1] == '.')
		end--;
	while (p < end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t l = dot ? (size_t)(dot - p) : (size_t)(end - p);
		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l + 1;
	}
	out[o++] = 0;
	return o;
}

static bool has_wire(const struct domainset *s, const char *name)
{
	uint8_t w[300];
	size_t n = to_wire(name, w);
	return domainset_match_wire(s, w, n);
}

static void test_suffix_match(void)
{
	struct domainset *s = domainset_new();

	CHECK(s != NULL);
	CHECK(domainset_add(s, "example.com", 11) == 0);
	CHECK(domainset_add(s, "Ads.Tracker.NET.", 16) == 0);
	CHECK(domainset_add(s, "example.com", 11) == 0); /* duplicate */
	CHECK(domainset_add(s, "x", 1) == 0);
	CHECK(domainset_seal(s) == 0);
	CHECK(domainset_count(s) == 3);
	CHECK(has(s, "example.com"));
	CHECK(has(s, "EXAMPLE.com."));
	CHECK(has(s, "www.example.com"));
	CHECK(has(s, "a.b.c.Example.Com"));
	CHECK(!has(s, "notexample.com"));
	CHECK(!has(s, "example.co"));
	CHECK(!has(s, "com"));
	CHECK(has(s, "ads.tracker.net"));
	CHECK(has(s, "x.ads.tracker.net."));
	CHECK(!has(s, "tracker.net"));
	CHECK(has(s, "x"));
	CHECK(has(s, "y.x"));
	CHECK(!has(s, "xx"));
	CHECK(!has(s, ""));
	CHECK(has_wire(s, "www.EXAMPLE.com"));
	CHECK(has_wire(s, "example.com"));
	CHECK(!has_wire(s, "wwwexample.com"));
	CHECK(!has_wire(s, "ads.tracker.net.evil"));
	CHECK(has_wire(s, "deep.ads.tracker.net"));
	{
		const uint8_t root[] = { 0 }, bad[] = { 5, 'a', 0 };
		CHECK(!domainset_match_wire(s, root, 1));
		CHECK(!domainset_match_wire(s, bad, sizeof(bad))); /* label runs past the end */
	}
	domainset_ref(s);
	domainset_unref(s);
	CHECK(has(s, "example.com")); /* still one reference */
	domainset_unref(s);
	domainset_unref(NULL);
}

static void test_add_invalid(void)
{
	struct domainset *s = domainset_new();
	char big[300];

	CHECK(domainset_add(s, "", 0) == -1);
	CHECK(domainset_add(s, ".", 1) == -1);
	CHECK(domainset_add(s, "a..b", 4) == -1);
	CHECK(domainset_add(s, ".a", 2) == -1);
	CHECK(domainset_add(s, "a b", 3) == -1);
	CHECK(domainset_add(s, "ex*ample.com", 12) == -1);
	memset(big, 'a', 64);
	CHECK(domainset_add(s, big, 64) == -1); /* label over 63 */
	CHECK(domainset_add(s, big, 63) == 0);
	for (int i = 0; i < 254; i++)
		big[i] = (i % 2) ? '.' : 'a';
	CHECK(domainset_add(s, big, 253) == 0);
	CHECK(domainset_add(s, big, 254) == 0);  /* 253 plus a trailing dot */
	big[254] = 'a';
	CHECK(domainset_add(s, big, 255) == -1); /* 255 > 253 */
	CHECK(domainset_add(s, "under_score-1.example", 21) == 0);
	CHECK(domainset_seal(s) == 0);
	CHECK(domainset_add(s, "late.example", 12) == -2); /* sealed */
	CHECK(has(s, "under_score-1.example"));
	domainset_unref(s);
}

static void test_empty(void)
{
	struct domainset *s = domainset_new();

	CHECK(domainset_seal(s) == 0);
	CHECK(domainset_count(s) == 0);
	CHECK(!has(s, "example.com"));
	CHECK(!has_wire(s, "example.com"));
	domainset_unref(s);
	CHECK(!domainset_match_text(NULL, "a", 1));
}

static int load(struct domainset *s, const char *text, size_t *line, size_t *col, char *msg)
{
	const char *p = write_tmp("list.txt", text);
	return domainset_load_file(s, p, line, col, msg, 160);
}

static void test_hosts_format(void)
{
	struct domainset *s = domainset_new();
	size_t line, col;
	char msg[160];

	CHECK(load(s, "# StevenBlack-style hosts file\n"
		      "127.0.0.1 localhost\n"
		      "127.0.0.1 localhost.localdomain\n"
		      "255.255.255.255 broadcasthost\n"
		      "::1 localhost ip6-localhost ip6-loopback\n"
		      "fe80::1%lo0 localhost\n"
		      "0.0.0.0 0.0.0.0\n"
		      "\n"
		      "0.0.0.0 ads.one.example\n"
		      "127.0.0.1\tTwo.Example  three.example. # two names, a comment\r\n"
		      "::  six.example\n"
		      "   0.0.0.0 indented.example\n"
		      "0.0.0.0 last.example",
		      &line, &col, msg) == 0);
	CHECK(line == 13);
	CHECK(domainset_seal(s) == 0);
	CHECK(domainset_count(s) == 6);
	CHECK(has(s, "ads.one.example") && has(s, "x.ads.one.example"));
	CHECK(has(s, "two.example") && has(s, "three.example") && has(s, "www.three.example"));
	CHECK(has(s, "six.example") && has(s, "indented.example") && has(s, "last.example"));
	CHECK(!has(s, "localhost") && !has(s, "broadcasthost") && !has(s, "ip6-localhost"));
	CHECK(!has(s, "one.example"));
	domainset_unref(s);
}

static void test_plain_format(void)
{
	struct domainset *s = domainset_new();
	size_t line, col;
	char msg[160];

	CHECK(load(s, "# plain list\nads.example\n  Tracker.Example.  \n\n# x\nads.example\n"
		      "metrics.example # why\n",
		      &line, &col, msg) == 0);
	CHECK(domainset_seal(s) == 0);
	CHECK(domainset_count(s) == 3);
	CHECK(has(s, "ads.example") && has(s, "a.tracker.example") && has(s, "metrics.example"));
	CHECK(!has(s, "example"));
	domainset_unref(s);
}

static void test_bad_lines(void)
{
	static const struct {
		const char *text;
		size_t line, col;
		const char *msg;
	} bad[] = {
		{ "ok.example\nbad..example\n", 2, 1, "invalid domain name 'bad..example'" },
		{ "a.example b.example\n", 1, 11, "expected one domain name" },
		{ "# c\n0.0.0.0\n", 2, 1, "address without a name" },
		{ "0.0.0.0 good.example ba*d.example\n", 1, 22, "invalid domain name 'ba*d.example'" },
		{ "\n\n  w!ld\n", 3, 3, "invalid domain name 'w!ld'" },
		{ "x\xff.example\n", 1, 1, "invalid domain name 'x\\xff.example'" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct domainset *s = domainset_new();
		size_t line = 0, col = 0;
		char msg[160] = "";
		int rc = load(s, bad[i].text, &line, &col, msg);
		CHECK(rc == -2);
		CHECK(line == bad[i].line);
		CHECK(col == bad[i].col);
		CHECK(strstr(msg, bad[i].msg) != NULL);
		if (rc != -2 || line != bad[i].line || col != bad[i].col || !strstr(msg, bad[i].msg))
			printf("  case %zu: rc %d line %zu col %zu msg '%s'\n", i, rc, line, col, msg);
		domainset_unref(s);
	}
	{
		struct domainset *s = domainset_new();
		size_t line, col;
		char msg[160];
		CHECK(domainset_load_file(s, "/nonexistent/list.txt", &line, &col, msg,
					  sizeof(msg)) == -1);
		domainset_unref(s);
	}
}

#define MINIMAL "mode: redirect\nproxy: {type: direct}\ndns: {enable: false}\n"

static void test_config_key(void)
{
	struct config cfg;
	char err[512], yaml[1024];
	const char *p;

	p = write_tmp("hosts.txt", "0.0.0.0 ads.example\n");
	CHECK(p != NULL);
	write_tmp("plain.txt", "Tracker.Example\n");
	snprintf(yaml, sizeof(yaml), MINIMAL "rules:\n  block-domain-files: [%s/hosts.txt, "
		 "%s/plain.txt]\n", dir, dir);
	memset(&cfg, 0, sizeof(cfg));
	CHECK(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) == 0);
	CHECK(cfg.rules.block_set != NULL && domainset_count(cfg.rules.block_set) == 2);
	CHECK(cfg.rules.block_domain_files.n == 2);
	CHECK(domainset_match_text(cfg.rules.block_set, "x.tracker.example", 17));
	config_free(&cfg);

	write_tmp("bad.txt", "# list\nok.example\nnot ok\n");
	snprintf(yaml, sizeof(yaml), MINIMAL "rules:\n  block-domain-files: [%s/bad.txt]\n", dir);
	memset(&cfg, 0, sizeof(cfg));
	CHECK(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) < 0);
	{
		char want[300];
		snprintf(want, sizeof(want), "%s/bad.txt:3:5: expected one domain name", dir);
		CHECK(strncmp(err, want, strlen(want)) == 0);
		if (strncmp(err, want, strlen(want)))
			printf("  got '%s'\n", err);
	}
	config_free(&cfg);

	snprintf(yaml, sizeof(yaml), MINIMAL "rules:\n  block-domain-files: [%s/none.txt]\n", dir);
	memset(&cfg, 0, sizeof(cfg));
	CHECK(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "t.yaml:5:") == err && strstr(err, "cannot read block list") &&
	      strstr(err, "No such file"));
	config_free(&cfg);

	snprintf(yaml, sizeof(yaml), MINIMAL "rules:\n  block-domain-files: []\n");
	memset(&cfg, 0, sizeof(cfg));
	CHECK(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) == 0);
	CHECK(cfg.rules.block_set == NULL);
	config_free(&cfg);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_suffix_match);
	RUN(test_add_invalid);
	RUN(test_empty);
	RUN(test_hosts_format);
	RUN(test_plain_format);
	RUN(test_bad_lines);
	RUN(test_config_key);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("FAIL cleanup: %s\n", cmd);
	}
	CHECK_EXIT();
}
