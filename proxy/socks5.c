/* socks5.c -- the SOCKS5 proxy (RFC 1928 CONNECT, RFC 1929 username/password): the greeting,
 * the optional authentication and the CONNECT request as a state machine that reads each
 * reply through a bounded cursor and consumes exactly its bytes. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/config.h"
#include "base/net.h"
#include "proxy/socksaddr.h"

#define SOCKS5_VER 5
#define SOCKS5_AUTH_VER 1 /* RFC 1929 sub-negotiation version */
#define SOCKS5_NAME_MAX 255

enum { SOCKS5_METHOD_NONE = 0x00, SOCKS5_METHOD_USERPASS = 0x02, SOCKS5_METHOD_REJECT = 0xff };
enum { SOCKS5_CMD_CONNECT = 1, SOCKS5_CMD_UDP_ASSOCIATE = 3 };
enum { SOCKS5_ATYP_IPV4 = 1, SOCKS5_ATYP_DOMAIN = 3, SOCKS5_ATYP_IPV6 = 4 };

enum socks5_state { SOCKS5_IDLE = 0, SOCKS5_METHOD, SOCKS5_AUTH, SOCKS5_REPLY, SOCKS5_OPEN };

struct socks5_priv {
	/* The RFC 1929 request (VER ULEN UNAME PLEN PASSWD), built once; len 0 without a
	 * username. */
	uint8_t auth[3 + 2 * SOCKS5_NAME_MAX];
	size_t auth_len;
};

struct socks5_conn {
	enum socks5_state state;
	/* The CONNECT request for this connection's target, encoded by start and sent once a
	 * method is agreed: VER CMD RSV ATYP DST.ADDR DST.PORT. */
	uint16_t req_len;
	uint8_t req[4 + 1 + SOCKS5_NAME_MAX + 2];
	bool udp; /* a UDP ASSOCIATE: bnd is the relay address from the reply */
	struct sockaddr_storage bnd;
};

static int socks5_init(const struct config_proxy *cfg, void **priv, char *err, size_t errlen)
{
	struct socks5_priv *sp;
	size_t ulen, plen;

	ulen = strnlen(cfg->username, sizeof(cfg->username));
	plen = strnlen(cfg->password, sizeof(cfg->password));
	if (ulen > SOCKS5_NAME_MAX || plen > SOCKS5_NAME_MAX) {
		snprintf(err, errlen, "socks5 proxy: username and password are at most %d bytes",
			 SOCKS5_NAME_MAX);
		return -1;
	}
	if (ulen == 0 && plen > 0) {
		snprintf(err, errlen, "socks5 proxy: password given without a username");
		return -1;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		snprintf(err, errlen, "socks5 proxy: out of memory");
		return -1;
	}
	if (ulen > 0) {
		sp->auth[0] = SOCKS5_AUTH_VER;
		sp->auth[1] = (uint8_t)ulen;
		memcpy(sp->auth + 2, cfg->username, ulen);
		sp->auth[2 + ulen] = (uint8_t)plen;
		memcpy(sp->auth + 3 + ulen, cfg->password, plen);
		sp->auth_len = 3 + ulen + plen;
	}
	*priv = sp;
	return 0;
}

static void socks5_fini(void *priv)
{
	struct socks5_priv *sp = priv;

	if (!sp)
		return;
	sodium_memzero(sp, sizeof(*sp));
	free(sp);
}

/* Encodes the CONNECT request for t into c->req: an IP literal name goes as an address,
 * any other name as ATYP 3. 0 or -1 with err set. */
static int socks5_encode_request(struct socks5_conn *c, const struct target *t, char *err,
				 size_t errlen)
{
	uint8_t *p = c->req;
	size_t len, n;

	*p++ = SOCKS5_VER;
	*p++ = t->udp_associate ? SOCKS5_CMD_UDP_ASSOCIATE : SOCKS5_CMD_CONNECT;
	*p++ = 0;
	c->udp = t->udp_associate;
	if (t->udp_associate) {
		/* RFC 1928: all zeros when the client does not know where it will send from;
		 * of the family of the destinations it will reach (dante relays only those). */
		size_t alen = t->addr.ss_family == AF_INET6 ? 16 : 4;
		*p++ = alen == 16 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4;
		memset(p, 0, alen + 2);
		c->req_len = (uint16_t)(3 + 1 + alen + 2);
		return 0;
	}
	if (t->host[0]) {
		char literal[SOCKS5_NAME_MAX + 1];
		struct sockaddr_storage lit;

		len = strnlen(t->host, sizeof(t->host));
		if (len > SOCKS5_NAME_MAX) {
			snprintf(err, errlen, "socks5 proxy: target host name longer than %d bytes",
				 SOCKS5_NAME_MAX);
			return -1;
		}
		/* "[v6]" is an IPv6 literal too. */
		if (len > 2 && t->host[0] == '[' && t->host[len - 1] == ']')
			snprintf(literal, sizeof(literal), "%.*s", (int)(len - 2), t->host + 1);
		else
			memcpy(literal, t->host, len + 1);
		memset(&lit, 0, sizeof(lit));
		if (inet_pton(AF_INET, literal, &((struct sockaddr_in *)&lit)->sin_addr) == 1)
			lit.ss_family = AF_INET;
		else if (inet_pton(AF_INET6, literal, &((struct sockaddr_in6 *)&lit)->sin6_addr) == 1)
			lit.ss_family = AF_INET6;
		if (lit.ss_family)
			n = socksaddr_put_ip(&lit, t->port, p);
		else
			n = socksaddr_put_name(t->host, len, t->port, p);
	} else {
		n = socksaddr_put_ip(&t->addr, net_port(&t->addr), p);
	}
	if (n == 0) {
		snprintf(err, errlen, "socks5 proxy: target has neither a name nor an address");
		return -1;
	}
	c->req_len = (uint16_t)(p + n - c->req);
	return 0;
}

static int socks5_start(void *priv, void *conn, const struct target *t, struct buf *out, char *err,
			size_t errlen)
{
	static const uint8_t greet_none[] = { SOCKS5_VER, 1, SOCKS5_METHOD_NONE };
	static const uint8_t greet_auth[] = { SOCKS5_VER, 2, SOCKS5_METHOD_NONE,
					      SOCKS5_METHOD_USERPASS };
	const struct socks5_priv *sp = priv;
	struct socks5_conn *c = conn;
	int rc;

	if (socks5_encode_request(c, t, err, errlen) < 0)
		return PROXY_ERROR;
	if (sp->auth_len)
		rc = buf_append(out, greet_auth, sizeof(greet_auth));
	else
		rc = buf_append(out, greet_none, sizeof(greet_none));
	if (rc < 0) {
		snprintf(err, errlen, "socks5 proxy: out of memory");
		return PROXY_ERROR;
	}
	c->state = SOCKS5_METHOD;
	return PROXY_NEED_MORE;
}

/* Each step below reads one reply from cur. PROXY_OK: the reply is complete (cur->off is
 * its length) and the state has moved on; PROXY_NEED_MORE: it is not all there yet (only
 * what is there was checked); PROXY_ERROR with err set. */

static int socks5_send(struct buf *out, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	if (buf_append(out, p, len) < 0) {
		snprintf(err, errlen, "socks5 proxy: out of memory");
		return PROXY_ERROR;
	}
	return PROXY_OK;
}

static int socks5_method_reply(const struct socks5_priv *sp, struct socks5_conn *c,
			       struct cursor *cur, struct buf *out, char *err, size_t errlen)
{
	uint8_t ver, method;

	if (!cursor_u8(cur, &ver))
		return PROXY_NEED_MORE;
	if (ver != SOCKS5_VER) {
		snprintf(err, errlen, "socks5 proxy sent version %u in its method reply, not 5",
			 ver);
		return PROXY_ERROR;
	}
	if (!cursor_u8(cur, &method))
		return PROXY_NEED_MORE;
	if (method == SOCKS5_METHOD_NONE) {
		c->state = SOCKS5_REPLY;
		return socks5_send(out, c->req, c->req_len, err, errlen);
	}
	if (method == SOCKS5_METHOD_USERPASS && sp->auth_len) {
		c->state = SOCKS5_AUTH;
		return socks5_send(out, sp->auth, sp->auth_len, err, errlen);
	}
	if (method == SOCKS5_METHOD_REJECT)
		snprintf(err, errlen, "socks5 proxy: no acceptable auth method%s",
			 sp->auth_len ? "" : " (the proxy may need a username and password)");
	else
		snprintf(err, errlen, "socks5 proxy chose auth method 0x%02x, which was not offered",
			 method);
	return PROXY_ERROR;
}

static int socks5_auth_reply(struct socks5_conn *c, struct cursor *cur, struct buf *out,
			     char *err, size_t errlen)
{
	uint8_t ver, status;

	if (!cursor_u8(cur, &ver))
		return PROXY_NEED_MORE;
	if (ver != SOCKS5_AUTH_VER) {
		snprintf(err, errlen, "socks5 proxy sent version %u in its auth reply, not 1", ver);
		return PROXY_ERROR;
	}
	if (!cursor_u8(cur, &status))
		return PROXY_NEED_MORE;
	if (status != 0) {
		snprintf(err, errlen, "socks5 proxy: authentication failed (status 0x%02x)", status);
		return PROXY_ERROR;
	}
	c->state = SOCKS5_REPLY;
	return socks5_send(out, c->req, c->req_len, err, errlen);
}

static const char *socks5_rep_text(uint8_t rep)
{
	static const char *const text[] = {
		[1] = "general SOCKS server failure",
		[2] = "connection not allowed by ruleset",
		[3] = "network unreachable",
		[4] = "host unreachable",
		[5] = "connection refused",
		[6] = "TTL expired",
		[7] = "command not supported",
		[8] = "address type not supported",
	};

	if (rep < sizeof(text) / sizeof(text[0]) && text[rep])
		return text[rep];
	return "unknown reply code";
}

static int socks5_connect_reply(struct socks5_conn *c, struct cursor *cur, char *err,
				size_t errlen)
{
	uint8_t ver, rep, rsv, atyp, namelen;
	size_t addrlen;

	if (!cursor_u8(cur, &ver))
		return PROXY_NEED_MORE;
	if (ver != SOCKS5_VER) {
		snprintf(err, errlen, "socks5 proxy sent version %u in its connect reply, not 5",
			 ver);
		return PROXY_ERROR;
	}
	if (!cursor_u8(cur, &rep))
		return PROXY_NEED_MORE;
	if (rep != 0) {
		snprintf(err, errlen, "socks5 proxy: connect failed: %s (0x%02x)",
			 socks5_rep_text(rep), rep);
		return PROXY_ERROR;
	}
	/* RSV should be 0; its value changes nothing about the reply's length, so any is
	 * accepted. */
	if (!cursor_u8(cur, &rsv) || !cursor_u8(cur, &atyp))
		return PROXY_NEED_MORE;
	switch (atyp) {
	case SOCKS5_ATYP_IPV4:
		addrlen = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		addrlen = 16;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (!cursor_u8(cur, &namelen))
			return PROXY_NEED_MORE;
		addrlen = namelen;
		break;
	default:
		snprintf(err, errlen, "socks5 proxy sent unknown address type 0x%02x in its reply",
			 atyp);
		return PROXY_ERROR;
	}
	if (c->udp && atyp != SOCKS5_ATYP_DOMAIN) {
		uint8_t a[16], port[2];
		if (!cursor_bytes(cur, a, addrlen) || !cursor_bytes(cur, port, 2))
			return PROXY_NEED_MORE;
		memset(&c->bnd, 0, sizeof(c->bnd));
		if (atyp == SOCKS5_ATYP_IPV4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&c->bnd;
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, a, 4);
			memcpy(&s4->sin_port, port, 2);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->bnd;
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, a, 16);
			memcpy(&s6->sin6_port, port, 2);
		}
	} else if (c->udp) {
		snprintf(err, errlen, "socks5 proxy named its UDP relay by host name (unsupported)");
		return PROXY_ERROR;
	} else if (!cursor_skip(cur, addrlen + 2)) { /* BND.ADDR, BND.PORT */
		return PROXY_NEED_MORE;
	}
	c->state = SOCKS5_OPEN;
	return PROXY_OK;
}

static int socks5_handshake(void *priv, void *conn, struct buf *in, struct buf *out, char *err,
			    size_t errlen)
{
	const struct socks5_priv *sp = priv;
	struct socks5_conn *c = conn;

	for (;;) {
		size_t avail = buf_used(in);
		struct cursor cur = cursor_make(avail ? buf_head(in) : NULL, avail);
		int rc;

		switch (c->state) {
		case SOCKS5_METHOD:
			rc = socks5_method_reply(sp, c, &cur, out, err, errlen);
			break;
		case SOCKS5_AUTH:
			rc = socks5_auth_reply(c, &cur, out, err, errlen);
			break;
		case SOCKS5_REPLY:
			rc = socks5_connect_reply(c, &cur, err, errlen);
			break;
		default:
			snprintf(err, errlen, "socks5 proxy: handshake called out of order");
			return PROXY_ERROR;
		}
		if (rc != PROXY_OK)
			return rc;
		if (cur.off)
			buf_consume(in, cur.off);
		if (c->state == SOCKS5_OPEN)
			return PROXY_OK;
	}
}

/* UDP request header (RFC 1928 section 7): RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA. */
static int socks5_udp_wrap(void *priv, const struct target *t, const uint8_t *in, size_t len,
			   uint8_t *out, size_t *outlen, uint8_t *tmp, char *err, size_t errlen)
{
	size_t n;

	(void)priv;
	(void)tmp;
	out[0] = 0;
	out[1] = 0;
	out[2] = 0; /* no fragmentation */
	n = socksaddr_put_ip(&t->addr, net_port(&t->addr), out + 3);
	if (n == 0) {
		snprintf(err, errlen, "socks5 udp: target has no address");
		return PROXY_ERROR;
	}
	n += 3;
	memcpy(out + n, in, len);
	*outlen = n + len;
	return PROXY_OK;
}

static int socks5_udp_unwrap(void *priv, const uint8_t *in, size_t len, uint8_t *out,
			     size_t *outlen, struct sockaddr_storage *from, char *err, size_t errlen)
{
	struct cursor c = cursor_make(in, len);
	uint8_t rsv[2], frag;

	(void)priv;
	memset(from, 0, sizeof(*from));
	if (!cursor_bytes(&c, rsv, 2) || !cursor_u8(&c, &frag) || cursor_left(&c) < 1)
		goto bad;
	if (frag != 0) {
		snprintf(err, errlen, "socks5 udp: fragment %u dropped (reassembly unsupported)", frag);
		return PROXY_ERROR;
	}
	if (socksaddr_get(&c, from) < 0)
		goto bad;
	*outlen = cursor_left(&c);
	memcpy(out, in + c.off, *outlen);
	return PROXY_OK;
bad:
	snprintf(err, errlen, "socks5 udp: truncated or bad header");
	return PROXY_ERROR;
}

static int socks5_udp_relay_addr(void *conn, struct sockaddr_storage *out)
{
	const struct socks5_conn *c = conn;

	if (!c->udp || c->state != SOCKS5_OPEN)
		return -1;
	*out = c->bnd;
	return 0;
}

const struct proxy_ops proxy_socks5_ops = {
	.name = "socks5",
	.dial_target = false,
	.conn_size = sizeof(struct socks5_conn),
	.init = socks5_init,
	.fini = socks5_fini,
	.start = socks5_start,
	.handshake = socks5_handshake,
	.encode_bound = NULL,
	.encode = NULL,
	.decode = NULL,
	.conn_fini = NULL,
	.udp = PROXY_UDP_ASSOCIATE,
	.udp_wrap = socks5_udp_wrap,
	.udp_unwrap = socks5_udp_unwrap,
	.udp_relay_addr = socks5_udp_relay_addr,
};
