/* ss.c -- the shadowsocks proxy: the target's SOCKS5-style address in the first AEAD
 * chunk, then every byte through the stream codec of proxy/aead.c. No reply to wait for. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "proxy/aead.h"
#include "proxy/socksaddr.h"

#define SS_ADDR_MAX SOCKSADDR_MAX

_Static_assert(AEAD_CHUNK_MAX <= PROXY_DECODE_SLACK, "decode may hold back one whole chunk");

struct ss_conn {
	struct aead_stream *enc; /* to the upstream */
	struct aead_stream *dec; /* from the upstream */
};

/* priv is the struct aead_key. */
static int ss_init(const struct config_proxy *cfg, void **priv, char *err, size_t errlen)
{
	const struct aead_method *m;
	struct aead_key *k;
	char why[400];

	m = aead_method_find(cfg->method, why, sizeof(why));
	if (!m) {
		snprintf(err, errlen, "ss: %s", why);
		return -1;
	}
	if (!cfg->password[0]) {
		snprintf(err, errlen, "ss: the password is empty; shadowsocks needs one");
		return -1;
	}
	k = aead_key_new(m, cfg->password);
	if (!k) {
		snprintf(err, errlen, "ss: cannot derive the key for %s (out of memory?)",
			 cfg->method);
		return -1;
	}
	*priv = k;
	return 0;
}

static void ss_fini(void *priv) { aead_key_free(priv); }

/* Writes the address header (ATYP 1 IPv4, 3 domain, 4 IPv6; then the port) into h. An
 * IPv4-mapped IPv6 address goes as IPv4. */
static int ss_addr_header(const struct target *t, uint8_t *h, size_t *hlen, char *err,
			  size_t errlen)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&t->addr;
	struct sockaddr_storage v4;
	size_t len;

	if (t->port == 0) {
		snprintf(err, errlen, "ss: target port is 0");
		return -1;
	}
	if (t->host[0]) {
		len = strnlen(t->host, sizeof(t->host));
		if (len > 255) {
			snprintf(err, errlen, "ss: target host name longer than 255 bytes");
			return -1;
		}
		*hlen = socksaddr_put_name(t->host, len, t->port, h);
		return 0;
	}
	if (t->addr.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		v4.ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)&v4)->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
		*hlen = socksaddr_put_ip(&v4, t->port, h);
	} else {
		*hlen = socksaddr_put_ip(&t->addr, t->port, h);
	}
	if (*hlen == 0) {
		snprintf(err, errlen, "ss: target has neither a host name nor an address (family %d)",
			 t->addr.ss_family);
		return -1;
	}
	return 0;
}

static void ss_conn_fini(void *conn)
{
	struct ss_conn *c = conn;

	aead_stream_free(c->enc);
	aead_stream_free(c->dec);
	c->enc = c->dec = NULL;
}

static int ss_start(void *priv, void *conn, const struct target *t, struct buf *out, char *err,
		    size_t errlen)
{
	struct ss_conn *c = conn;
	uint8_t hdr[SS_ADDR_MAX];
	size_t hlen, n;

	if (c->enc || c->dec) {
		snprintf(err, errlen, "ss: connection already started");
		return PROXY_ERROR;
	}
	if (ss_addr_header(t, hdr, &hlen, err, errlen) < 0)
		return PROXY_ERROR;
	c->enc = aead_stream_new(priv, AEAD_ENCRYPT);
	c->dec = aead_stream_new(priv, AEAD_DECRYPT);
	if (!c->enc || !c->dec || buf_reserve(out, aead_stream_encrypt_bound(hlen)) < 0) {
		snprintf(err, errlen, "ss: out of memory");
		goto fail;
	}
	if (aead_stream_encrypt(c->enc, hdr, hlen, out->data + out->len, &n) < 0) {
		snprintf(err, errlen, "ss: %s", aead_strerror(AEAD_ERR_INTERNAL));
		goto fail;
	}
	out->len += n;
	return PROXY_OK;
fail:
	ss_conn_fini(c);
	return PROXY_ERROR;
}

static int ss_encode(void *conn, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	struct ss_conn *c = conn;

	*outlen = 0;
	if (!c->enc || aead_stream_encrypt(c->enc, in, len, out, outlen) < 0)
		return PROXY_ERROR;
	return PROXY_OK;
}

static int ss_decode(void *conn, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
		     char *err, size_t errlen)
{
	struct ss_conn *c = conn;
	int rc;

	*outlen = 0;
	if (!c->dec) {
		snprintf(err, errlen, "ss: connection not started");
		return PROXY_ERROR;
	}
	rc = aead_stream_decrypt(c->dec, in, len, out, outlen);
	if (rc >= 0)
		return PROXY_OK;
	snprintf(err, errlen, "ss: %s", aead_strerror(rc));
	return PROXY_ERROR;
}

/* UDP: [salt][seal(address header + payload)], a fresh salt per datagram. */
static int ss_udp_wrap(void *priv, const struct target *t, const uint8_t *in, size_t len,
		       uint8_t *out, size_t *outlen, uint8_t *tmp, char *err, size_t errlen)
{
	size_t hlen;

	if (ss_addr_header(t, tmp, &hlen, err, errlen) < 0)
		return PROXY_ERROR;
	memcpy(tmp + hlen, in, len);
	if (aead_udp_seal(priv, tmp, hlen + len, out, outlen) < 0) {
		snprintf(err, errlen, "ss: %s", aead_strerror(AEAD_ERR_INTERNAL));
		return PROXY_ERROR;
	}
	return PROXY_OK;
}

static int ss_udp_unwrap(void *priv, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
			 struct sockaddr_storage *from, char *err, size_t errlen)
{
	struct cursor c;
	size_t n = 0;
	int rc;

	rc = aead_udp_open(priv, in, len, out, &n);
	if (rc != AEAD_OK) {
		snprintf(err, errlen, "ss udp: %s", aead_strerror(rc));
		return PROXY_ERROR;
	}
	c = cursor_make(out, n);
	if (socksaddr_get(&c, from) < 0) {
		snprintf(err, errlen, "ss udp: bad address header in a reply");
		return PROXY_ERROR;
	}
	*outlen = cursor_left(&c);
	memmove(out, out + (n - *outlen), *outlen);
	return PROXY_OK;
}

const struct proxy_ops proxy_ss_ops = {
	.name = "ss",
	.dial_target = false,
	.conn_size = sizeof(struct ss_conn),
	.init = ss_init,
	.fini = ss_fini,
	.start = ss_start,
	.handshake = NULL,
	.encode_bound = aead_stream_encrypt_bound,
	.encode_unit = AEAD_CHUNK_MAX,
	.encode = ss_encode,
	.decode = ss_decode,
	.conn_fini = ss_conn_fini,
	.udp = PROXY_UDP_SERVER,
	.udp_wrap = ss_udp_wrap,
	.udp_unwrap = ss_udp_unwrap,
};
