/* test_socks5.c -- unit tests for the SOCKS5 proxy (proxy/socks5.c) through its ops table: the
 * exact greeting, auth and CONNECT bytes, reply parsing split at every byte boundary, every
 * failure reply, and the stream bytes that follow the reply. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "proxy/proxy.h"
#include "tests/unit/check.h"

static const struct proxy_ops *const ops = &proxy_socks5_ops;

#include "tests/unit/proxy_harness.h"

/* Bytes with an explicit length, so NULs are fine. */
struct bytes {
	const uint8_t *p;
	size_t n;
};
#define BYTES(...) ((struct bytes){ (const uint8_t[]){ __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }) })

static int hs_init(struct hs *h, const char *user, const char *pass)
{
	return hs_init_type(h, PROXY_TYPE_SOCKS5, 1080, user, pass);
}

static int hs_feed(struct hs *h, const void *p, size_t n)
{
	if (buf_append(&h->in, p, n) < 0)
		return -2;
	return ops->handshake(h->priv, h->conn, &h->in, &h->out, h->err, sizeof(h->err));
}

/* Concatenates up to four pieces into one malloc'd byte string. */
static struct bytes cat(struct bytes a, struct bytes b, struct bytes c, struct bytes d)
{
	uint8_t *p = malloc(a.n + b.n + c.n + d.n + 1);
	struct bytes r = { p, 0 };

	if (!p)
		abort();
	memcpy(p, a.p, a.n);
	memcpy(p + a.n, b.p, b.n);
	memcpy(p + a.n + b.n, c.p, c.n);
	memcpy(p + a.n + b.n + c.n, d.p, d.n);
	r.n = a.n + b.n + c.n + d.n;
	return r;
}

static const struct bytes none = { (const uint8_t *)"", 0 };

/* Runs a whole handshake: start to t, then the server's bytes fed in pieces cut at the
 * given offsets (ascending, ncuts of them). Returns the last handshake result; on
 * PROXY_OK the bytes still in `in` must equal rest and everything sent must equal sent. */
static int hs_run(const char *user, const char *pass, const struct target *t, struct bytes server,
		  const size_t *cuts, size_t ncuts, struct bytes sent, struct bytes rest, char *err,
		  size_t errlen)
{
	struct hs h;
	size_t from = 0;
	int rc = -2;

	if (hs_init(&h, user, pass) < 0)
		goto out;
	rc = ops->start(h.priv, h.conn, t, &h.out, h.err, sizeof(h.err));
	if (rc != PROXY_NEED_MORE)
		goto out;
	for (size_t i = 0; i <= ncuts && rc == PROXY_NEED_MORE; i++) {
		size_t to = i < ncuts ? cuts[i] : server.n;
		rc = hs_feed(&h, server.p + from, to - from);
		from = to;
	}
	if (rc == PROXY_OK) {
		CHECK(buf_used(&h.in) + (server.n - from) == rest.n);
		/* What the caller would see once it appends the bytes it has not fed yet. */
		CHECK(buf_append(&h.in, server.p + from, server.n - from) == 0);
		if (!buf_eq(&h.in, rest.p, rest.n) || !buf_eq(&h.out, sent.p, sent.n))
			rc = -3;
	}
out:
	if (err)
		snprintf(err, errlen, "%s", h.err);
	hs_free(&h);
	return rc;
}

static int hs_run_whole(const char *user, const char *pass, const struct target *t,
			struct bytes server, struct bytes sent, struct bytes rest, char *err,
			size_t errlen)
{
	return hs_run(user, pass, t, server, NULL, 0, sent, rest, err, errlen);
}

/* The same handshake cut once at every offset, then fed one byte at a time. */
static void hs_run_every_split(const char *user, const char *pass, const struct target *t,
			       struct bytes server, struct bytes sent, struct bytes rest)
{
	size_t *cuts = malloc((server.n + 1) * sizeof(*cuts));

	if (!cuts)
		abort();
	for (size_t cut = 0; cut <= server.n; cut++) {
		int rc = hs_run(user, pass, t, server, &cut, 1, sent, rest, NULL, 0);
		CHECK(rc == PROXY_OK);
		if (rc != PROXY_OK)
			printf("  cut at %zu: %d\n", cut, rc);
	}
	for (size_t i = 0; i < server.n; i++)
		cuts[i] = i;
	CHECK(hs_run(user, pass, t, server, cuts, server.n, sent, rest, NULL, 0) == PROXY_OK);
	free(cuts);
}

#define GREET_NONE BYTES(5, 1, 0)
#define GREET_AUTH BYTES(5, 2, 0, 2)
#define REPLY_V4 BYTES(5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90)
#define REPLY_V6 BYTES(5, 0, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x04, 0x38)
#define REPLY_NAME BYTES(5, 0, 0, 3, 5, 'p', 'r', 'o', 'x', 'y', 0, 80)
#define STREAM BYTES('D', 'A', 'T', 'A', 0, 5, 0)

static void test_ops_table(void)
{
	CHECK(strcmp(ops->name, "socks5") == 0);
	CHECK(!ops->dial_target);
	CHECK(ops->encode == NULL && ops->decode == NULL && ops->encode_bound == NULL);
}

static void test_greeting(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_eq(&h.out, GREET_NONE.p, GREET_NONE.n));
	hs_free(&h);
	CHECK(hs_init(&h, "user", "pw") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_eq(&h.out, GREET_AUTH.p, GREET_AUTH.n));
	hs_free(&h);
}

static void test_request_bytes(void)
{
	struct {
		struct target t;
		struct bytes req;
	} cases[] = {
		{ target_ip("198.18.0.7", 80), BYTES(5, 1, 0, 1, 198, 18, 0, 7, 0, 80) },
		{ target_ip("fd00::1:2", 8443),
		  BYTES(5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0x20, 0xfb) },
		{ target_name("example.com", 443),
		  BYTES(5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 1,
			0xbb) },
		/* IP literals given as names go as addresses. */
		{ target_name("198.18.0.8", 65535), BYTES(5, 1, 0, 1, 198, 18, 0, 8, 0xff, 0xff) },
		{ target_name("fd00::9", 1),
		  BYTES(5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1) },
		{ target_name("[fd00::9]", 2),
		  BYTES(5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2) },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bytes sent = cat(GREET_NONE, cases[i].req, none, none);
		struct bytes server = cat(BYTES(5, 0), REPLY_V4, none, none);
		CHECK(hs_run_whole("", "", &cases[i].t, server, sent, none, NULL, 0) == PROXY_OK);
		free((void *)sent.p);
		free((void *)server.p);
	}
}

static void test_request_domain_lengths(void)
{
	struct target t = target_name("", 80);
	struct hs h;

	/* 255 bytes is the most ATYP 3 can carry... */
	memset(t.host, 'a', 255);
	t.host[255] = '\0';
	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(hs_feed(&h, "\x05\x00", 2) == PROXY_NEED_MORE);
	CHECK(buf_used(&h.out) == 3 + 4 + 1 + 255 + 2);
	CHECK(buf_used(&h.out) > 8 && buf_head(&h.out)[3 + 3] == 3 && buf_head(&h.out)[3 + 4] == 255);
	hs_free(&h);
	/* ... a name that fills the whole field unterminated is longer. */
	memset(t.host, 'a', sizeof(t.host));
	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_ERROR);
	CHECK(strstr(h.err, "longer than 255") != NULL);
	hs_free(&h);
	/* No name and no address. */
	memset(&t, 0, sizeof(t));
	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_ERROR);
	hs_free(&h);
}

static void test_noauth_split_every_boundary(void)
{
	struct target targets[] = {
		target_ip("198.18.0.7", 80),
		target_ip("fd00::7", 443),
		target_name("www.example.org", 8080),
	};
	struct bytes reqs[] = {
		BYTES(5, 1, 0, 1, 198, 18, 0, 7, 0, 80),
		BYTES(5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 0xbb),
		BYTES(5, 1, 0, 3, 15, 'w', 'w', 'w', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o',
		      'r', 'g', 0x1f, 0x90),
	};
	struct bytes replies[] = { REPLY_V4, REPLY_V6, REPLY_NAME };

	for (size_t i = 0; i < 3; i++) {
		struct bytes sent = cat(GREET_NONE, reqs[i], none, none);
		for (size_t j = 0; j < 3; j++) {
			struct bytes server = cat(BYTES(5, 0), replies[j], STREAM, none);
			hs_run_every_split("", "", &targets[i], server, sent, STREAM);
			free((void *)server.p);
		}
		free((void *)sent.p);
	}
}

static void test_no_trailing_bytes(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	struct bytes sent = cat(GREET_NONE, BYTES(5, 1, 0, 1, 198, 18, 0, 7, 0, 80), none, none);
	struct bytes server = cat(BYTES(5, 0), REPLY_V6, none, none);

	CHECK(hs_run_whole("", "", &t, server, sent, none, NULL, 0) == PROXY_OK);
	free((void *)sent.p);
	free((void *)server.p);
}

static void test_auth_happy_path(void)
{
	struct target t = target_name("example.com", 443);
	struct bytes req = BYTES(5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
				 1, 0xbb);
	struct bytes auth = BYTES(1, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', '3', 'c', 'r', '3', 't');
	struct bytes sent = cat(GREET_AUTH, auth, req, none);
	struct bytes server = cat(BYTES(5, 2), BYTES(1, 0), REPLY_NAME, STREAM);

	hs_run_every_split("alice", "s3cr3t", &t, server, sent, STREAM);
	free((void *)sent.p);
	free((void *)server.p);

	/* Offered both methods; the proxy may still pick no auth. */
	sent = cat(GREET_AUTH, req, none, none);
	server = cat(BYTES(5, 0), REPLY_V4, none, none);
	CHECK(hs_run_whole("alice", "s3cr3t", &t, server, sent, none, NULL, 0) == PROXY_OK);
	free((void *)sent.p);
	free((void *)server.p);

	/* A username with an empty password. */
	sent = cat(GREET_AUTH, BYTES(1, 1, 'u', 0), req, none);
	server = cat(BYTES(5, 2), BYTES(1, 0), REPLY_V4, none);
	CHECK(hs_run_whole("u", "", &t, server, sent, none, NULL, 0) == PROXY_OK);
	free((void *)sent.p);
	free((void *)server.p);
}

static void test_auth_longest(void)
{
	char user[256], pass[256];
	struct target t = target_ip("198.18.0.7", 80);
	struct hs h;

	memset(user, 'u', 255);
	user[255] = '\0';
	memset(pass, 'p', 255);
	pass[255] = '\0';
	CHECK(hs_init(&h, user, pass) == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	buf_free(&h.out);
	CHECK(hs_feed(&h, "\x05\x02", 2) == PROXY_NEED_MORE);
	CHECK(buf_used(&h.out) == 3 + 255 + 255);
	CHECK(buf_used(&h.out) == 513 && buf_head(&h.out)[1] == 255 && buf_head(&h.out)[257] == 255);
	hs_free(&h);
}

static void test_auth_failure(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	char err[256];

	CHECK(hs_run_whole("alice", "wrong", &t, BYTES(5, 2, 1, 1), none,
			   none, err, sizeof(err)) == PROXY_ERROR);
	CHECK(strstr(err, "authentication failed") != NULL);
	/* Version 5 instead of 1 in the auth reply. */
	CHECK(hs_run_whole("alice", "pw", &t, BYTES(5, 2, 5, 0), none, none,
			   err, sizeof(err)) == PROXY_ERROR);
	CHECK(strstr(err, "auth reply") != NULL);
}

static void test_method_rejected(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	char err[256];

	CHECK(hs_run_whole("", "", &t, BYTES(5, 0xff), none, none, err, sizeof(err)) ==
	      PROXY_ERROR);
	CHECK(strstr(err, "no acceptable auth method") != NULL);
	CHECK(hs_run_whole("a", "b", &t, BYTES(5, 0xff), none, none, err, sizeof(err)) ==
	      PROXY_ERROR);
	CHECK(strstr(err, "no acceptable auth method") != NULL);
	/* Methods that were not offered. */
	CHECK(hs_run_whole("", "", &t, BYTES(5, 2), none, none, err, sizeof(err)) == PROXY_ERROR);
	CHECK(strstr(err, "not offered") != NULL);
	CHECK(hs_run_whole("a", "b", &t, BYTES(5, 1), none, none, err, sizeof(err)) == PROXY_ERROR);
}

static void test_rep_codes(void)
{
	static const char *const text[] = {
		"", "general SOCKS server failure", "connection not allowed by ruleset",
		"network unreachable", "host unreachable", "connection refused", "TTL expired",
		"command not supported", "address type not supported", "unknown reply code",
	};
	struct target t = target_ip("198.18.0.7", 80);

	for (uint8_t rep = 1; rep <= 9; rep++) {
		char err[256];
		uint8_t reply[] = { 5, 0, 5, rep, 0, 1, 0, 0, 0, 0, 0, 0 };
		struct bytes server = { reply, sizeof(reply) };
		CHECK(hs_run_whole("", "", &t, server, none, none, err, sizeof(err)) == PROXY_ERROR);
		CHECK(strstr(err, text[rep]) != NULL);
		/* The failure is known as soon as REP arrives. */
		server.n = 4;
		CHECK(hs_run_whole("", "", &t, server, none, none, NULL, 0) == PROXY_ERROR);
	}
}

static void test_bad_version(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	char err[256];

	CHECK(hs_run_whole("", "", &t, BYTES(4), none, none, err, sizeof(err)) == PROXY_ERROR);
	CHECK(strstr(err, "method reply") != NULL);
	CHECK(hs_run_whole("", "", &t, BYTES(5, 0, 4), none, none, err, sizeof(err)) ==
	      PROXY_ERROR);
	CHECK(strstr(err, "connect reply") != NULL);
	/* An HTTP proxy answering. */
	CHECK(hs_run_whole("", "", &t, BYTES('H', 'T', 'T', 'P'), none, none, NULL, 0) ==
	      PROXY_ERROR);
}

static void test_unknown_atyp(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	char err[256];

	for (uint8_t atyp = 0; atyp < 255; atyp++) {
		uint8_t reply[] = { 5, 0, 5, 0, 0, atyp };
		struct bytes server = { reply, sizeof(reply) };
		int rc = hs_run_whole("", "", &t, server, none, none, err, sizeof(err));
		if (atyp == 1 || atyp == 3 || atyp == 4) {
			CHECK(rc == PROXY_NEED_MORE);
		} else {
			CHECK(rc == PROXY_ERROR);
			CHECK(strstr(err, "unknown address type") != NULL);
		}
	}
}

static void test_truncated(void)
{
	struct target t = target_name("example.com", 443);
	struct bytes server = cat(BYTES(5, 2), BYTES(1, 0), REPLY_NAME, none);

	for (size_t n = 0; n < server.n; n++) {
		struct bytes part = { server.p, n };
		CHECK(hs_run_whole("alice", "pw", &t, part, none, none, NULL, 0) == PROXY_NEED_MORE);
	}
	free((void *)server.p);
	server = cat(BYTES(5, 0), REPLY_V6, none, none);
	for (size_t n = 0; n < server.n; n++) {
		struct bytes part = { server.p, n };
		CHECK(hs_run_whole("", "", &t, part, none, none, NULL, 0) == PROXY_NEED_MORE);
	}
	free((void *)server.p);
}

static void test_partial_reply_not_consumed(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	/* A whole method reply is consumed; a partial connect reply stays. */
	CHECK(hs_feed(&h, "\x05\x00\x05\x00\x00\x01\x0a", 7) == PROXY_NEED_MORE);
	CHECK(buf_eq(&h.in, "\x05\x00\x00\x01\x0a", 5));
	CHECK(hs_feed(&h, "\x00\x00\x01\x00\x50xy", 7) == PROXY_OK);
	CHECK(buf_eq(&h.in, "xy", 2));
	/* Once open, the handshake is over. */
	CHECK(hs_feed(&h, "", 0) == PROXY_ERROR);
	hs_free(&h);
}

static void test_init_rejects(void)
{
	struct hs h;

	CHECK(hs_init(&h, "", "secret") < 0);
	CHECK(strstr(h.err, "without a username") != NULL);
	hs_free(&h);
}

static void test_handshake_before_start(void)
{
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(hs_feed(&h, "\x05\x00", 2) == PROXY_ERROR);
	hs_free(&h);
}

int main(void)
{
	RUN(test_ops_table);
	RUN(test_greeting);
	RUN(test_request_bytes);
	RUN(test_request_domain_lengths);
	RUN(test_noauth_split_every_boundary);
	RUN(test_no_trailing_bytes);
	RUN(test_auth_happy_path);
	RUN(test_auth_longest);
	RUN(test_auth_failure);
	RUN(test_method_rejected);
	RUN(test_rep_codes);
	RUN(test_bad_version);
	RUN(test_unknown_atyp);
	RUN(test_truncated);
	RUN(test_partial_reply_not_consumed);
	RUN(test_init_rejects);
	RUN(test_handshake_before_start);
	CHECK_EXIT();
}
