/* test_http.c -- unit tests for the HTTP CONNECT proxy (proxy/http.c) through its ops table:
 * the request bytes, Basic auth, and reply parsing (whole, split, LF-only, refusals, limits,
 * garbage); plus the trivial direct proxy. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "proxy/proxy.h"
#include "tests/unit/check.h"

static const struct proxy_ops *const ops = &proxy_http_ops;

#include "tests/unit/proxy_harness.h"

static int hs_init(struct hs *h, const char *user, const char *pass)
{
	return hs_init_type(h, PROXY_TYPE_HTTP, 3128, user, pass);
}

static bool buf_is(const struct buf *b, const char *s)
{
	return buf_eq(b, s, strlen(s));
}

/* Starts a no-auth handshake to example.com:443 and clears what start wrote. */
static int hs_begin(struct hs *h)
{
	struct target t = target_name("example.com", 443);

	if (hs_init(h, "", "") < 0)
		return -1;
	if (ops->start(h->priv, h->conn, &t, &h->out, h->err, sizeof(h->err)) != PROXY_NEED_MORE)
		return -1;
	buf_free(&h->out);
	return 0;
}

/* Appends s to the reply bytes and runs the handshake over them. */
static int hs_feed(struct hs *h, const void *p, size_t n)
{
	if (buf_append(&h->in, p, n) < 0)
		return -2;
	return ops->handshake(h->priv, h->conn, &h->in, &h->out, h->err, sizeof(h->err));
}

static int hs_feed_str(struct hs *h, const char *s) { return hs_feed(h, s, strlen(s)); }

/* A whole reply in one go: the result, with what stays in `in` checked against rest. */
static int hs_reply(const char *reply, const char *rest, char *err, size_t errlen)
{
	struct hs h;
	int rc = -2;

	if (hs_begin(&h) == 0) {
		rc = hs_feed_str(&h, reply);
		if (rest && !buf_is(&h.in, rest))
			rc = -3;
		if (err)
			snprintf(err, errlen, "%s", h.err);
	}
	hs_free(&h);
	return rc;
}

static void test_start_name(void)
{
	struct target t = target_name("example.com", 443);
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_is(&h.out, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
	hs_free(&h);
}

static void test_start_ipv4(void)
{
	struct target t = target_ip("198.18.0.7", 80);
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_is(&h.out, "CONNECT 198.18.0.7:80 HTTP/1.1\r\nHost: 198.18.0.7:80\r\n\r\n"));
	hs_free(&h);
}

static void test_start_ipv6(void)
{
	struct target t = target_ip("fd00::1:2", 8443);
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_is(&h.out, "CONNECT [fd00::1:2]:8443 HTTP/1.1\r\nHost: [fd00::1:2]:8443\r\n\r\n"));
	hs_free(&h);
}

static void test_start_ipv6_literal_name(void)
{
	struct target t = target_name("fd00::5", 22);
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_is(&h.out, "CONNECT [fd00::5]:22 HTTP/1.1\r\nHost: [fd00::5]:22\r\n\r\n"));
	hs_free(&h);
}

static void test_start_basic_auth(void)
{
	/* The example credentials of RFC 7617 section 2. */
	struct target t = target_name("example.com", 443);
	struct hs h;

	CHECK(hs_init(&h, "Aladdin", "open sesame") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	CHECK(buf_is(&h.out, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
			     "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"));
	hs_free(&h);
}

static void test_start_basic_auth_longest(void)
{
	char user[256], pass[256];
	struct target t = target_name("a.example", 1);
	struct hs h;

	memset(user, 'u', 255);
	user[255] = '\0';
	memset(pass, 'p', 255);
	pass[255] = '\0';
	CHECK(hs_init(&h, user, pass) == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_NEED_MORE);
	/* 511 credential bytes -> 684 base64 characters. */
	CHECK(buf_used(&h.out) == strlen("CONNECT a.example:1 HTTP/1.1\r\nHost: a.example:1\r\n"
					 "Proxy-Authorization: Basic \r\n\r\n") + 684);
	hs_free(&h);
}

static void test_init_rejects(void)
{
	struct hs h;

	CHECK(hs_init(&h, "", "secret") < 0);
	CHECK(strstr(h.err, "without a username") != NULL);
	hs_free(&h);
	CHECK(hs_init(&h, "a:b", "secret") < 0);
	CHECK(strstr(h.err, "':'") != NULL);
	hs_free(&h);
}

static void test_start_bad_host(void)
{
	struct target t = target_name("evil.example:80 HTTP/1.1\r\nX-Injected: 1", 80);
	struct target none;
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(ops->start(h.priv, h.conn, &t, &h.out, h.err, sizeof(h.err)) == PROXY_ERROR);
	CHECK(buf_used(&h.out) == 0);
	memset(&none, 0, sizeof(none));
	CHECK(ops->start(h.priv, h.conn, &none, &h.out, h.err, sizeof(h.err)) == PROXY_ERROR);
	hs_free(&h);
}

static void test_200_extra_bytes_kept(void)
{
	CHECK(hs_reply("HTTP/1.1 200 Connection established\r\nProxy-agent: test\r\n\r\nHELLO\r\n\r\n",
		       "HELLO\r\n\r\n", NULL, 0) == PROXY_OK);
}

static void test_200_split_bytewise(void)
{
	static const char reply[] = "HTTP/1.1 200 Connection established\r\nVia: 1.1 x\r\n\r\n";
	size_t n = strlen(reply);
	struct hs h;

	CHECK(hs_begin(&h) == 0);
	for (size_t i = 0; i + 1 < n; i++)
		CHECK(hs_feed(&h, reply + i, 1) == PROXY_NEED_MORE);
	CHECK(hs_feed(&h, reply + n - 1, 1) == PROXY_OK);
	CHECK(buf_used(&h.in) == 0);
	CHECK(buf_used(&h.out) == 0);
	hs_free(&h);
}

static void test_200_split_everywhere(void)
{
	static const char reply[] = "HTTP/1.0 200 OK\r\nA: b\r\n\r\nxyz";
	size_t n = strlen(reply);

	for (size_t cut = 0; cut <= n; cut++) {
		struct hs h;
		int rc;

		CHECK(hs_begin(&h) == 0);
		rc = hs_feed(&h, reply, cut);
		if (rc == PROXY_NEED_MORE)
			rc = hs_feed(&h, reply + cut, n - cut);
		else
			CHECK(buf_append(&h.in, reply + cut, n - cut) == 0);
		CHECK(rc == PROXY_OK);
		CHECK(buf_is(&h.in, "xyz"));
		hs_free(&h);
	}
}

static void test_lf_only(void)
{
	CHECK(hs_reply("HTTP/1.1 200 OK\nServer: x\n\ndata", "data", NULL, 0) == PROXY_OK);
	CHECK(hs_reply("HTTP/1.1 200 OK\r\nServer: x\n\r\ndata", "data", NULL, 0) == PROXY_OK);
}

static void test_real_proxies(void)
{
	/* What Debian's tinyproxy 1.11 and squid 5 answer to a successful CONNECT. */
	CHECK(hs_reply("HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n",
		       "", NULL, 0) == PROXY_OK);
	CHECK(hs_reply("HTTP/1.1 200 Connection established\r\n\r\n", "", NULL, 0) == PROXY_OK);
}

static void test_other_2xx_and_no_reason(void)
{
	CHECK(hs_reply("HTTP/1.1 204 No Content\r\n\r\n", "", NULL, 0) == PROXY_OK);
	CHECK(hs_reply("HTTP/1.0 200\r\n\r\n", "", NULL, 0) == PROXY_OK);
	CHECK(hs_reply("HTTP/1.1 299 Whatever it is\r\n\r\n", "", NULL, 0) == PROXY_OK);
}

static void test_interim_1xx_skipped(void)
{
	CHECK(hs_reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nz", "z", NULL, 0) ==
	      PROXY_OK);
	CHECK(hs_reply("HTTP/1.1 101 Switching Protocols\r\n\r\n", NULL, NULL, 0) == PROXY_ERROR);
}

static void test_407_status_in_error(void)
{
	char err[256];

	CHECK(hs_reply("HTTP/1.1 407 Proxy Authentication Required\r\n"
		       "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
		       NULL, err, sizeof(err)) == PROXY_ERROR);
	CHECK(strcmp(err, "http proxy refused: HTTP/1.1 407 Proxy Authentication Required") == 0);
	/* The status line alone is enough to fail. */
	CHECK(hs_reply("HTTP/1.1 407 Proxy Authentication Required\r\n", NULL, err, sizeof(err)) ==
	      PROXY_ERROR);
}

static void test_502(void)
{
	char err[256];

	CHECK(hs_reply("HTTP/1.0 502 Bad Gateway\nContent-Length: 0\n\n", NULL, err, sizeof(err)) ==
	      PROXY_ERROR);
	CHECK(strcmp(err, "http proxy refused: HTTP/1.0 502 Bad Gateway") == 0);
}

static void test_error_sanitized(void)
{
	char err[256];

	CHECK(hs_reply("HTTP/1.1 403 Forbidden\x1b[31m\x7f\xff\tX\r\n\r\n", NULL, err, sizeof(err)) ==
	      PROXY_ERROR);
	CHECK(strcmp(err, "http proxy refused: HTTP/1.1 403 Forbidden?[31m???X") == 0);
}

static void test_oversized_headers(void)
{
	static const char field[] = "X-Filler: 0123456789012345678901234567890123456789\r\n";
	struct hs h;
	int rc = PROXY_NEED_MORE;
	size_t fed = 0;

	CHECK(hs_begin(&h) == 0);
	rc = hs_feed_str(&h, "HTTP/1.1 200 OK\r\n");
	while (rc == PROXY_NEED_MORE && fed < 64 * 1024) {
		rc = hs_feed_str(&h, field);
		fed += strlen(field);
	}
	CHECK(rc == PROXY_ERROR);
	CHECK(fed <= 16 * 1024 + sizeof(field));
	CHECK(strstr(h.err, "exceed") != NULL);
	hs_free(&h);

	/* One endless line without LF fails too, before any LF arrives. */
	CHECK(hs_begin(&h) == 0);
	rc = hs_feed_str(&h, "HTTP/1.1 200 ");
	for (fed = 0; rc == PROXY_NEED_MORE && fed < 64 * 1024; fed += 1000) {
		char junk[1000];
		memset(junk, 'a', sizeof(junk));
		rc = hs_feed(&h, junk, sizeof(junk));
	}
	CHECK(rc == PROXY_ERROR);
	CHECK(fed <= 17 * 1000);
	hs_free(&h);
}

static void test_headers_at_limit(void)
{
	/* Exactly 16 KiB of header bytes is accepted; one more is not. */
	char *reply = malloc(16 * 1024 + 8);
	const char *head = "HTTP/1.1 200 OK\r\nX: ";
	size_t n = 16 * 1024;

	CHECK(reply != NULL);
	if (!reply)
		return;
	memset(reply, 'v', n);
	memcpy(reply, head, strlen(head));
	memcpy(reply + n - 4, "\r\n\r\n", 4);
	reply[n] = '\0';
	CHECK(hs_reply(reply, "", NULL, 0) == PROXY_OK);
	memset(reply, 'v', n + 1);
	memcpy(reply, head, strlen(head));
	memcpy(reply + n + 1 - 4, "\r\n\r\n", 4);
	reply[n + 1] = '\0';
	CHECK(hs_reply(reply, NULL, NULL, 0) == PROXY_ERROR);
	free(reply);
}

static void test_garbage(void)
{
	char err[256];

	/* A SOCKS5 method reply: fails at once, with no line end in sight. */
	CHECK(hs_reply("\x05", NULL, err, sizeof(err)) == PROXY_ERROR);
	CHECK(strstr(err, "not an HTTP reply") != NULL);
	CHECK(hs_reply("SSH-2.0-OpenSSH_9.2\r\n", NULL, err, sizeof(err)) == PROXY_ERROR);
	CHECK(hs_reply("HTTP/2 200\r\n\r\n", NULL, NULL, 0) == PROXY_ERROR);
	CHECK(hs_reply("HTTP/1.1 2x0 OK\r\n\r\n", NULL, NULL, 0) == PROXY_ERROR);
	CHECK(hs_reply("HTTP/1.1 200OK\r\n\r\n", NULL, err, sizeof(err)) == PROXY_ERROR);
	CHECK(strstr(err, "malformed status line") != NULL);
	CHECK(hs_reply("HTTP/1.1 20\r\n\r\n", NULL, NULL, 0) == PROXY_ERROR);
	CHECK(hs_reply("\r\n", NULL, NULL, 0) == PROXY_ERROR);
	CHECK(hs_reply("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", NULL, err, sizeof(err)) ==
	      PROXY_ERROR);
	CHECK(strstr(err, "malformed header line") != NULL);
	CHECK(hs_reply("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", NULL, NULL, 0) == PROXY_ERROR);
	/* Obsolete line folding is tolerated. */
	CHECK(hs_reply("HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n", "", NULL, 0) == PROXY_OK);
}

static void test_truncated_need_more(void)
{
	static const char *const partial[] = {
		"", "H", "HTTP/1.", "HTTP/1.1 200", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r",
		"HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nVia: x\r\n", "HTTP/1.1 200 OK\r\n\r",
	};

	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		CHECK(hs_reply(partial[i], NULL, NULL, 0) == PROXY_NEED_MORE);
}

static void test_handshake_out_of_order(void)
{
	struct hs h;

	CHECK(hs_init(&h, "", "") == 0);
	CHECK(hs_feed_str(&h, "HTTP/1.1 200 OK\r\n\r\n") == PROXY_ERROR);
	hs_free(&h);
	CHECK(hs_begin(&h) == 0);
	CHECK(hs_feed_str(&h, "HTTP/1.1 200 OK\r\n\r\n") == PROXY_OK);
	CHECK(hs_feed_str(&h, "HTTP/1.1 200 OK\r\n\r\n") == PROXY_ERROR);
	hs_free(&h);
}

static void test_direct(void)
{
	const struct proxy_ops *d = &proxy_direct_ops;
	struct target t = target_ip("198.18.0.9", 443);
	struct buf out = { 0 };
	char err[64];

	CHECK(strcmp(d->name, "direct") == 0);
	CHECK(d->dial_target);
	CHECK(d->start(NULL, NULL, &t, &out, err, sizeof(err)) == PROXY_OK);
	CHECK(buf_used(&out) == 0);
	CHECK(d->handshake == NULL && d->encode == NULL && d->decode == NULL &&
	      d->encode_bound == NULL);
}

static void test_ops_table(void)
{
	CHECK(strcmp(ops->name, "http") == 0);
	CHECK(!ops->dial_target);
	CHECK(ops->encode == NULL && ops->decode == NULL && ops->encode_bound == NULL);
}

int main(void)
{
	RUN(test_ops_table);
	RUN(test_start_name);
	RUN(test_start_ipv4);
	RUN(test_start_ipv6);
	RUN(test_start_ipv6_literal_name);
	RUN(test_start_basic_auth);
	RUN(test_start_basic_auth_longest);
	RUN(test_init_rejects);
	RUN(test_start_bad_host);
	RUN(test_200_extra_bytes_kept);
	RUN(test_200_split_bytewise);
	RUN(test_200_split_everywhere);
	RUN(test_lf_only);
	RUN(test_real_proxies);
	RUN(test_other_2xx_and_no_reason);
	RUN(test_interim_1xx_skipped);
	RUN(test_407_status_in_error);
	RUN(test_502);
	RUN(test_error_sanitized);
	RUN(test_oversized_headers);
	RUN(test_headers_at_limit);
	RUN(test_garbage);
	RUN(test_truncated_need_more);
	RUN(test_handshake_out_of_order);
	RUN(test_direct);
	CHECK_EXIT();
}
