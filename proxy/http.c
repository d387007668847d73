/* http.c -- the HTTP CONNECT proxy: writes the CONNECT request (with Basic auth when a
 * username is set) and parses the proxy's reply headers line by line, consuming exactly
 * the header bytes so whatever follows them stays in `in` as stream data. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/config.h"

/* Largest reply header block (status line, fields, blank line) we accept. */
#define HTTP_HEADER_MAX (16 * 1024)
/* "user:pass" with both at their config maximum (255 bytes each). */
#define HTTP_CRED_MAX (255 + 1 + 255)
#define HTTP_AUTH_PREFIX "Proxy-Authorization: Basic "

enum http_state { HTTP_IDLE = 0, HTTP_STATUS, HTTP_HEADERS, HTTP_OPEN };

struct http_priv {
	/* The whole Proxy-Authorization line with its CRLF, or "" without a username. */
	char auth[sizeof(HTTP_AUTH_PREFIX) +
		  sodium_base64_ENCODED_LEN(HTTP_CRED_MAX, sodium_base64_VARIANT_ORIGINAL) + 2];
};

struct http_conn {
	enum http_state state;
	bool interim; /* the response being read is a 1xx; another one follows it */
	size_t total; /* header bytes consumed so far */
	size_t scanned; /* bytes at the head of `in` already searched for '\n' */
};

static int http_init(const struct config_proxy *cfg, void **priv, char *err, size_t errlen)
{
	uint8_t cred[HTTP_CRED_MAX];
	struct http_priv *hp;
	size_t ulen, plen, off;

	ulen = strnlen(cfg->username, sizeof(cfg->username));
	plen = strnlen(cfg->password, sizeof(cfg->password));
	if (ulen == sizeof(cfg->username) || plen == sizeof(cfg->password)) {
		snprintf(err, errlen, "http proxy: username or password too long");
		return -1;
	}
	if (ulen == 0 && plen > 0) {
		snprintf(err, errlen, "http proxy: password given without a username");
		return -1;
	}
	if (memchr(cfg->username, ':', ulen)) {
		snprintf(err, errlen, "http proxy: username must not contain ':' (Basic auth)");
		return -1;
	}
	hp = calloc(1, sizeof(*hp));
	if (!hp) {
		snprintf(err, errlen, "http proxy: out of memory");
		return -1;
	}
	if (ulen > 0) {
		memcpy(cred, cfg->username, ulen);
		cred[ulen] = ':';
		memcpy(cred + ulen + 1, cfg->password, plen);
		off = strlen(HTTP_AUTH_PREFIX);
		memcpy(hp->auth, HTTP_AUTH_PREFIX, off);
		sodium_bin2base64(hp->auth + off, sizeof(hp->auth) - off, cred, ulen + 1 + plen,
				  sodium_base64_VARIANT_ORIGINAL);
		off += strlen(hp->auth + off);
		memcpy(hp->auth + off, "\r\n", 3);
		sodium_memzero(cred, sizeof(cred));
	}
	*priv = hp;
	return 0;
}

static void http_fini(void *priv)
{
	struct http_priv *hp = priv;

	if (!hp)
		return;
	sodium_memzero(hp, sizeof(*hp));
	free(hp);
}

/* Writes "host:port" for the request line: the name when there is one (bracketed when
 * it is an IPv6 literal), else the address. 0 or -1 with err set. */
static int http_format_target(const struct target *t, char *out, size_t outlen, char *err,
			      size_t errlen)
{
	char ip[INET6_ADDRSTRLEN];
	size_t len;

	if (t->host[0]) {
		len = strnlen(t->host, sizeof(t->host));
		if (len == sizeof(t->host)) {
			snprintf(err, errlen, "http proxy: target host name too long");
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)t->host[i];
			if (ch <= 0x20 || ch >= 0x7f) {
				snprintf(err, errlen,
					 "http proxy: target host name has a byte 0x%02x not allowed "
					 "in a request line", ch);
				return -1;
			}
		}
		if (strchr(t->host, ':') && t->host[0] != '[')
			snprintf(out, outlen, "[%s]:%u", t->host, (unsigned)t->port);
		else
			snprintf(out, outlen, "%s:%u", t->host, (unsigned)t->port);
		return 0;
	}
	if (t->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&t->addr;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
		return 0;
	}
	if (t->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&t->addr;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(sin6->sin6_port));
		return 0;
	}
	snprintf(err, errlen, "http proxy: target has neither a name nor an address");
	return -1;
}

static int http_start(void *priv, void *conn, const struct target *t, struct buf *out, char *err,
		      size_t errlen)
{
	const struct http_priv *hp = priv;
	struct http_conn *c = conn;
	char target[sizeof(t->host) + 16];
	char req[2 * sizeof(target) + sizeof(hp->auth) + 64];
	int n;

	if (http_format_target(t, target, sizeof(target), err, errlen) < 0)
		return PROXY_ERROR;
	n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target,
		     hp->auth);
	if (n < 0 || (size_t)n >= sizeof(req) || buf_append(out, req, (size_t)n) < 0) {
		sodium_memzero(req, sizeof(req));
		snprintf(err, errlen, "http proxy: out of memory");
		return PROXY_ERROR;
	}
	sodium_memzero(req, sizeof(req));
	c->state = HTTP_STATUS;
	c->interim = false;
	c->total = 0;
	c->scanned = 0;
	return PROXY_NEED_MORE;
}

/* Copies up to outlen-1 bytes of s into out, each byte outside printable ASCII as '?'. */
static void http_sanitize(const uint8_t *s, size_t len, char *out, size_t outlen)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; i < len && i < outlen - 1; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	out[i] = '\0';
}

static bool http_is_digit(uint8_t ch) { return ch >= '0' && ch <= '9'; }

/* The fixed start of every status line: "HTTP/1.x NNN", '#' standing for a digit. */
static const char http_status_shape[] = "HTTP/1.# ###";

/* false when the first n bytes of a status line already cannot match its shape. */
static bool http_status_viable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n && i < sizeof(http_status_shape) - 1; i++) {
		if (http_status_shape[i] == '#' ? !http_is_digit(s[i]) : s[i] != http_status_shape[i])
			return false;
	}
	return true;
}

/* Parses "HTTP/1.x NNN[ reason]" (line without its end); -1 when malformed. */
static int http_parse_status(const uint8_t *s, size_t len)
{
	size_t shape = sizeof(http_status_shape) - 1;

	if (len < shape || !http_status_viable(s, shape))
		return -1;
	if (len > shape && s[shape] != ' ')
		return -1;
	return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

/* Handles one complete line (without its LF or CRLF). PROXY_OK when the headers of a final
 * 2xx response ended, PROXY_NEED_MORE to read on, PROXY_ERROR with err set. */
static int http_line(struct http_conn *c, const uint8_t *s, size_t len, char *err, size_t errlen)
{
	char clean[160];
	int code;

	if (c->state == HTTP_STATUS) {
		code = http_parse_status(s, len);
		if (code < 0) {
			http_sanitize(s, len, clean, sizeof(clean));
			snprintf(err, errlen, "http proxy sent a malformed status line: \"%s\"", clean);
			return PROXY_ERROR;
		}
		/* 1xx other than 101 are interim responses (RFC 9110 15.2): skip them. */
		if (code / 100 == 1 && code != 101) {
			c->interim = true;
		} else if (code / 100 != 2) {
			http_sanitize(s, len, clean, sizeof(clean));
			snprintf(err, errlen, "http proxy refused: %s", clean);
			return PROXY_ERROR;
		} else {
			c->interim = false;
		}
		c->state = HTTP_HEADERS;
		return PROXY_NEED_MORE;
	}
	if (len == 0) {
		if (c->interim) {
			c->state = HTTP_STATUS;
			return PROXY_NEED_MORE;
		}
		c->state = HTTP_OPEN;
		return PROXY_OK;
	}
	/* A field line is "name: value"; a line starting with blank continues the previous
	 * one (obsolete folding). Content-Length and the like mean nothing after a 2xx
	 * CONNECT reply (RFC 9110 9.3.6), so fields are only checked for shape. */
	if (s[0] != ' ' && s[0] != '\t') {
		const uint8_t *colon = memchr(s, ':', len);
		if (!colon || colon == s) {
			http_sanitize(s, len, clean, sizeof(clean));
			snprintf(err, errlen, "http proxy sent a malformed header line: \"%s\"", clean);
			return PROXY_ERROR;
		}
	}
	return PROXY_NEED_MORE;
}

static int http_handshake(void *priv, void *conn, struct buf *in, struct buf *out, char *err,
			  size_t errlen)
{
	struct http_conn *c = conn;

	(void)priv;
	(void)out;
	if (c->state != HTTP_STATUS && c->state != HTTP_HEADERS) {
		snprintf(err, errlen, "http proxy: handshake called out of order");
		return PROXY_ERROR;
	}
	for (;;) {
		size_t avail = buf_used(in), linelen, body;
		const uint8_t *p, *nl;
		char clean[64];
		int rc;

		if (avail == 0) {
			c->scanned = 0;
			return PROXY_NEED_MORE;
		}
		if (c->scanned > avail)
			c->scanned = 0; /* the caller dropped bytes; search them all again */
		p = buf_head(in);
		nl = memchr(p + c->scanned, '\n', avail - c->scanned);
		linelen = nl ? (size_t)(nl - p) + 1 : avail;
		if (linelen > HTTP_HEADER_MAX - c->total) {
			snprintf(err, errlen, "http proxy reply headers exceed %d bytes",
				 HTTP_HEADER_MAX);
			return PROXY_ERROR;
		}
		if (!nl) {
			c->scanned = avail;
			if (c->state == HTTP_STATUS && !http_status_viable(p, avail)) {
				http_sanitize(p, avail, clean, sizeof(clean));
				snprintf(err, errlen,
					 "http proxy sent something that is not an HTTP reply: \"%s\"",
					 clean);
				return PROXY_ERROR;
			}
			return PROXY_NEED_MORE;
		}
		c->scanned = 0;
		body = linelen - 1;
		if (body > 0 && p[body - 1] == '\r')
			body--;
		rc = http_line(c, p, body, err, errlen);
		if (rc == PROXY_ERROR)
			return rc;
		c->total += linelen;
		buf_consume(in, linelen);
		if (rc == PROXY_OK)
			return PROXY_OK;
	}
}

const struct proxy_ops proxy_http_ops = {
	.name = "http",
	.dial_target = false,
	.conn_size = sizeof(struct http_conn),
	.init = http_init,
	.fini = http_fini,
	.start = http_start,
	.handshake = http_handshake,
	.encode_bound = NULL,
	.encode = NULL,
	.decode = NULL,
	.conn_fini = NULL,
};
