/* sniff.c -- the host name in a client's first bytes: the server_name extension of a TLS
 * ClientHello (RFC 8446 4.1.2, RFC 6066 3), or the Host header of an HTTP/1 request
 * (RFC 9112 3.2). Everything is read through a bounded cursor over what has arrived; a
 * record or a header block not complete yet is NEED_MORE, up to SNIFF_MAX bytes. */
#include "relay/sniff.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

#define TLS_HANDSHAKE 0x16
#define TLS_CLIENT_HELLO 0x01
#define TLS_EXT_SERVER_NAME 0x0000
#define TLS_SNI_HOST_NAME 0x00

/* A name as DNS/URLs allow it: letters, digits, '-', '_', '.'; stored lower case. */
static bool host_set(const uint8_t *p, size_t n, char *host, size_t hostlen)
{
	if (n == 0 || n >= hostlen || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch - 'A' + 'a');
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			   ch == '_' || ch == '.'))
			return false;
		host[i] = (char)ch;
	}
	host[n] = '\0';
	return true;
}

/* A 24-bit length. */
static bool cursor_be24(struct cursor *c, uint32_t *v)
{
	uint8_t b[3];

	if (!cursor_bytes(c, b, 3))
		return false;
	*v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	return true;
}

/* A sub-cursor over the next n bytes of c (false when c has fewer). */
static bool cursor_sub(struct cursor *c, size_t n, struct cursor *sub)
{
	if (cursor_left(c) < n)
		return false;
	*sub = cursor_make(c->p + c->off, n);
	c->off += n;
	return true;
}

static enum sniff_result sni_in_extensions(struct cursor *ext, char *host, size_t hostlen)
{
	while (cursor_left(ext) > 0) {
		uint16_t type, len, list_len, name_len;
		struct cursor body, list;
		uint8_t name_type;

		if (!cursor_be16(ext, &type) || !cursor_be16(ext, &len) ||
		    !cursor_sub(ext, len, &body))
			return SNIFF_ERROR;
		if (type != TLS_EXT_SERVER_NAME)
			continue;
		if (!cursor_be16(&body, &list_len) || !cursor_sub(&body, list_len, &list))
			return SNIFF_ERROR;
		while (cursor_left(&list) > 0) {
			struct cursor name;

			if (!cursor_u8(&list, &name_type) || !cursor_be16(&list, &name_len) ||
			    !cursor_sub(&list, name_len, &name))
				return SNIFF_ERROR;
			if (name_type != TLS_SNI_HOST_NAME)
				continue;
			return host_set(name.p, name.len, host, hostlen) ? SNIFF_OK : SNIFF_ERROR;
		}
		return SNIFF_ERROR;
	}
	return SNIFF_ERROR; /* no server_name: nothing to learn */
}

static enum sniff_result sniff_tls(const uint8_t *data, size_t len, char *host, size_t hostlen)
{
	struct cursor c = cursor_make(data, len), rec, hs, ext;
	uint8_t type, major, minor, id_len, comp_len;
	uint16_t rec_len, suites_len, ext_len;
	uint32_t hs_len;

	/* The record header: handshake, version 3.x, a length a record may have. */
	if (!cursor_u8(&c, &type) || !cursor_u8(&c, &major) || !cursor_u8(&c, &minor) ||
	    !cursor_be16(&c, &rec_len))
		return SNIFF_NEED_MORE;
	if (type != TLS_HANDSHAKE || major != 3 || rec_len == 0 || rec_len > (1u << 14) + 256)
		return SNIFF_ERROR;
	if (5u + rec_len > SNIFF_MAX)
		return SNIFF_ERROR;
	if (!cursor_sub(&c, rec_len, &rec))
		return SNIFF_NEED_MORE;
	/* The ClientHello must fit in this first record (every client we know sends it so;
	 * one spread over records is left unnamed). */
	if (!cursor_u8(&rec, &type) || type != TLS_CLIENT_HELLO || !cursor_be24(&rec, &hs_len) ||
	    !cursor_sub(&rec, hs_len, &hs))
		return SNIFF_ERROR;
	if (!cursor_skip(&hs, 2 + 32) || !cursor_u8(&hs, &id_len) || !cursor_skip(&hs, id_len) ||
	    !cursor_be16(&hs, &suites_len) || !cursor_skip(&hs, suites_len) ||
	    !cursor_u8(&hs, &comp_len) || !cursor_skip(&hs, comp_len))
		return SNIFF_ERROR;
	if (cursor_left(&hs) == 0)
		return SNIFF_ERROR; /* no extensions at all */
	if (!cursor_be16(&hs, &ext_len) || !cursor_sub(&hs, ext_len, &ext))
		return SNIFF_ERROR;
	return sni_in_extensions(&ext, host, hostlen);
}

static bool is_tchar(uint8_t ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The Host header's value without its port; the brackets of an IPv6 literal are not a
 * name, so such a request stays unnamed. */
static enum sniff_result http_host_value(struct cursor v, char *host, size_t hostlen)
{
	size_t n;

	while (cursor_left(&v) && (v.p[v.off] == ' ' || v.p[v.off] == '\t'))
		v.off++;
	while (cursor_left(&v) && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
		v.len--;
	for (n = 0; n < cursor_left(&v) && v.p[v.off + n] != ':'; n++)
		;
	return host_set(v.p + v.off, n, host, hostlen) ? SNIFF_OK : SNIFF_ERROR;
}

static enum sniff_result sniff_http(const uint8_t *data, size_t len, char *host, size_t hostlen)
{
	struct cursor c = cursor_make(data, len < SNIFF_MAX ? len : SNIFF_MAX);
	bool first = true;

	for (;;) {
		struct cursor line;
		size_t n;

		for (n = 0; n + 1 < cursor_left(&c); n++)
			if (c.p[c.off + n] == '\r' && c.p[c.off + n + 1] == '\n')
				break;
		if (n + 1 >= cursor_left(&c)) {
			/* No line end yet: wait, unless the line is already wrong or too long. */
			if (len >= SNIFF_MAX)
				return SNIFF_ERROR;
			if (first) {
				size_t i;
				for (i = 0; i < cursor_left(&c) && is_tchar(c.p[c.off + i]); i++)
					;
				if (i < cursor_left(&c) && c.p[c.off + i] != ' ')
					return SNIFF_ERROR;
			}
			return SNIFF_NEED_MORE;
		}
		cursor_sub(&c, n, &line);
		cursor_skip(&c, 2);
		if (first) {
			/* "METHOD SP target SP HTTP/x.y" */
			size_t i;

			for (i = 0; i < line.len && is_tchar(line.p[i]); i++)
				;
			if (i == 0 || i == line.len || line.p[i] != ' ' || line.len < i + 10 ||
			    memcmp(line.p + line.len - 8, "HTTP/1.", 7) != 0)
				return SNIFF_ERROR;
			first = false;
			continue;
		}
		if (line.len == 0)
			return SNIFF_ERROR; /* end of the headers: no Host */
		if (line.len > 5 && strncasecmp((const char *)line.p, "host:", 5) == 0) {
			cursor_skip(&line, 5);
			return http_host_value(line, host, hostlen);
		}
	}
}

enum sniff_result sniff_host(const uint8_t *data, size_t len, char *host, size_t hostlen)
{
	if (len == 0)
		return SNIFF_NEED_MORE;
	if (data[0] == TLS_HANDSHAKE)
		return sniff_tls(data, len, host, hostlen);
	if (is_tchar(data[0]))
		return sniff_http(data, len, host, hostlen);
	return SNIFF_ERROR;
}
