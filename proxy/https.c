/* https.c -- HTTP CONNECT over TLS (type https): OpenSSL's libssl with memory BIOs, so it
 * stays sans-IO like every proxy here. `start` writes the ClientHello; `handshake` feeds
 * the server's bytes to TLS until it is up, then sends the CONNECT request of http.c
 * inside it and reads http.c's reply parsing from the decrypted bytes; after that,
 * `encode` seals the client's bytes into TLS records and `decode` opens the server's.
 *
 * The server's certificate is verified against the system's CAs (or proxy.ca-file), for
 * the name or address of proxy.server (SNI is sent for a name); proxy.insecure turns
 * that off, with a warning at start. TLS 1.2 at least. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/config.h"
#include "base/log.h"

#define TLS_RECORD_OVERHEAD 64 /* header, explicit nonce, tag, padding: generous */
#define TLS_RECORD_MAX 16384

struct https_priv {
	SSL_CTX *ctx;
	void *http; /* http.c's state: the CONNECT request and its reply */
	char server[CONFIG_HOST_MAX];
	bool server_is_ip;
};

struct https_conn {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	bool tls_up, connect_sent;
	/* Where the handshake is in the server's record stream: it feeds TLS one record at
	 * a time, so nothing past the record the CONNECT reply ends in is inside TLS when
	 * it says OK (see feed_record). */
	uint8_t rec_hdr[5];
	size_t rec_hdr_got, rec_body_left;
	struct buf plain_in; /* decrypted reply bytes for http.c's parser */
	struct target target;
	void *http_conn; /* http.c's per-connection state */
};

/* The first queued OpenSSL error (or what the verification said), for err. With
 * insecure: true the verification result is what it found all the same (a self-signed
 * certificate...), though it failed nothing: not named then. */
static void tls_error(SSL *ssl, const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	long v = ssl && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE ? SSL_get_verify_result(ssl)
								      : X509_V_OK;

	if (v != X509_V_OK)
		snprintf(err, errlen, "https proxy: %s: certificate: %s", what,
			 X509_verify_cert_error_string(v));
	else if (e)
		snprintf(err, errlen, "https proxy: %s: %s", what, ERR_reason_error_string(e));
	else
		snprintf(err, errlen, "https proxy: %s failed", what);
	ERR_clear_error();
}

static int https_init(const struct config_proxy *cfg, void **priv, char *err, size_t errlen)
{
	struct https_priv *hp = calloc(1, sizeof(*hp));
	struct in6_addr a6;

	if (!hp) {
		snprintf(err, errlen, "https proxy: out of memory");
		return -1;
	}
	if (proxy_http_ops.init(cfg, &hp->http, err, errlen) < 0)
		goto fail;
	snprintf(hp->server, sizeof(hp->server), "%s", cfg->server);
	hp->server_is_ip = inet_pton(AF_INET, cfg->server, &a6) == 1 ||
			   inet_pton(AF_INET6, cfg->server, &a6) == 1;
	hp->ctx = SSL_CTX_new(TLS_client_method());
	if (!hp->ctx || !SSL_CTX_set_min_proto_version(hp->ctx, TLS1_2_VERSION)) {
		tls_error(NULL, "TLS context", err, errlen);
		goto fail;
	}
	if (cfg->insecure) {
		SSL_CTX_set_verify(hp->ctx, SSL_VERIFY_NONE, NULL);
		log_warn("proxy %s: insecure: true -- the https proxy's certificate is not "
			 "verified; anyone on the path can read and change the traffic", cfg->name);
	} else {
		SSL_CTX_set_verify(hp->ctx, SSL_VERIFY_PEER, NULL);
		if (cfg->ca_file[0] ? !SSL_CTX_load_verify_locations(hp->ctx, cfg->ca_file, NULL)
				    : !SSL_CTX_set_default_verify_paths(hp->ctx)) {
			char why[200];

			tls_error(NULL, "CA certificates", why, sizeof(why));
			snprintf(err, errlen, "%s (ca-file '%s')", why,
				 cfg->ca_file[0] ? cfg->ca_file : "system default");
			goto fail;
		}
	}
	*priv = hp;
	return 0;
fail:
	if (hp->http)
		proxy_http_ops.fini(hp->http);
	SSL_CTX_free(hp->ctx);
	free(hp);
	return -1;
}

static void https_fini(void *priv)
{
	struct https_priv *hp = priv;

	proxy_http_ops.fini(hp->http);
	SSL_CTX_free(hp->ctx);
	free(hp);
}

/* What TLS wants to send, appended to out. 0 or -1 (out of memory). */
static int drain(struct https_conn *c, struct buf *out)
{
	char tmp[4096];
	int n;

	while ((n = BIO_read(c->wbio, tmp, sizeof(tmp))) > 0)
		if (buf_append(out, tmp, (size_t)n) < 0)
			return -1;
	return 0;
}

static int https_start(void *priv, void *conn, const struct target *t, struct buf *out,
		       char *err, size_t errlen)
{
	struct https_priv *hp = priv;
	struct https_conn *c = conn;
	int rc;

	c->target = *t;
	c->http_conn = calloc(1, proxy_http_ops.conn_size ? proxy_http_ops.conn_size : 1);
	if (!c->http_conn) {
		snprintf(err, errlen, "https proxy: out of memory");
		return PROXY_ERROR;
	}
	c->ssl = SSL_new(hp->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		snprintf(err, errlen, "https proxy: out of memory");
		return PROXY_ERROR;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (!hp->server_is_ip)
		SSL_set_tlsext_host_name(c->ssl, hp->server);
	if (!(hp->server_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), hp->server)
			       : SSL_set1_host(c->ssl, hp->server))) {
		tls_error(c->ssl, "server name", err, errlen);
		return PROXY_ERROR;
	}
	rc = SSL_do_handshake(c->ssl);
	if (rc <= 0 && SSL_get_error(c->ssl, rc) != SSL_ERROR_WANT_READ) {
		tls_error(c->ssl, "TLS handshake", err, errlen);
		return PROXY_ERROR;
	}
	if (drain(c, out) < 0) {
		snprintf(err, errlen, "https proxy: out of memory");
		return PROXY_ERROR;
	}
	return PROXY_NEED_MORE;
}

/* Writes plaintext into TLS. 0 or -1. */
static int seal(struct https_conn *c, const void *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		int n = SSL_write(c->ssl, (const char *)p + off,
				  (int)(len - off > 1 << 20 ? 1 << 20 : len - off));
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Decrypted bytes into out, at most cap. -1 on a TLS error (not on "need more"), 1 when
 * the server closed TLS (close_notify). */
static int open_records(struct https_conn *c, uint8_t *out, size_t cap, size_t *outlen)
{
	*outlen = 0;
	while (*outlen < cap) {
		int n = SSL_read(c->ssl, out + *outlen, (int)(cap - *outlen > 1 << 20 ? 1 << 20 : cap - *outlen));
		if (n > 0) {
			*outlen += (size_t)n;
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return 0;
		case SSL_ERROR_ZERO_RETURN: /* close_notify: the end of the stream */
			return 1;
		default:
			return -1;
		}
	}
	return 0;
}

/* Moves the server's bytes from in into TLS, up to the end of the TLS record they are in
 * and no further (the 5-byte header gives its length). Once the CONNECT reply is read,
 * what follows it must reach decode, whose output is bounded by its input plus one record:
 * had the handshake put more records into TLS, their plaintext beyond that bound would
 * wait inside TLS for bytes that may never come (the server ends the stream). 0 or -1. */
static int feed_record(struct https_conn *c, struct buf *in)
{
	size_t avail = buf_used(in), take = 0;
	const uint8_t *p;

	if (!avail)
		return 0;
	p = buf_head(in);
	while (take < avail) {
		if (c->rec_hdr_got < sizeof(c->rec_hdr)) {
			c->rec_hdr[c->rec_hdr_got++] = p[take++];
			if (c->rec_hdr_got < sizeof(c->rec_hdr))
				continue;
			c->rec_body_left = (size_t)c->rec_hdr[3] << 8 | c->rec_hdr[4];
		} else {
			size_t n = avail - take < c->rec_body_left ? avail - take : c->rec_body_left;

			take += n;
			c->rec_body_left -= n;
		}
		if (!c->rec_body_left) {
			c->rec_hdr_got = 0; /* the record is complete */
			break;
		}
	}
	if (BIO_write(c->rbio, p, (int)take) != (int)take)
		return -1;
	buf_consume(in, take);
	return 0;
}

/* Runs the handshake on what TLS holds: TLS, then the CONNECT request, then its reply. */
static int advance(struct https_priv *hp, struct https_conn *c, struct buf *out, char *err,
		   size_t errlen)
{
	uint8_t tmp[4096];
	size_t n;
	int rc;

	if (!c->tls_up) {
		rc = SSL_do_handshake(c->ssl);
		if (rc <= 0) {
			if (SSL_get_error(c->ssl, rc) != SSL_ERROR_WANT_READ) {
				tls_error(c->ssl, "TLS handshake", err, errlen);
				return PROXY_ERROR;
			}
			return drain(c, out) < 0 ? PROXY_ERROR : PROXY_NEED_MORE;
		}
		c->tls_up = true;
	}
	if (!c->connect_sent) {
		struct buf req = { 0 };

		rc = proxy_http_ops.start(hp->http, c->http_conn, &c->target, &req, err, errlen);
		if (rc == PROXY_ERROR || seal(c, buf_head(&req), buf_used(&req)) < 0) {
			buf_free(&req);
			if (rc != PROXY_ERROR)
				tls_error(c->ssl, "sending CONNECT", err, errlen);
			return PROXY_ERROR;
		}
		buf_free(&req);
		c->connect_sent = true;
	}
	/* One byte at a time: what follows the reply stays inside TLS for decode. */
	for (;;) {
		if (open_records(c, tmp, 1, &n) != 0) {
			tls_error(c->ssl, "reading the CONNECT reply", err, errlen);
			return PROXY_ERROR;
		}
		if (!n)
			break;
		if (buf_append(&c->plain_in, tmp, n) < 0) {
			snprintf(err, errlen, "https proxy: out of memory");
			return PROXY_ERROR;
		}
		rc = proxy_http_ops.handshake(hp->http, c->http_conn, &c->plain_in, out, err, errlen);
		if (rc == PROXY_ERROR)
			return PROXY_ERROR;
		if (rc == PROXY_OK) {
			buf_free(&c->plain_in);
			return drain(c, out) < 0 ? PROXY_ERROR : PROXY_OK;
		}
	}
	return drain(c, out) < 0 ? PROXY_ERROR : PROXY_NEED_MORE;
}

static int https_handshake(void *priv, void *conn, struct buf *in, struct buf *out, char *err,
			   size_t errlen)
{
	struct https_conn *c = conn;
	int rc;

	/* A record at a time; what follows the reply's record stays in `in` as stream data. */
	do {
		if (feed_record(c, in) < 0) {
			snprintf(err, errlen, "https proxy: out of memory");
			return PROXY_ERROR;
		}
		rc = advance(priv, c, out, err, errlen);
	} while (rc == PROXY_NEED_MORE && buf_used(in));
	return rc;
}

static size_t https_encode_bound(size_t len)
{
	return len + (len / TLS_RECORD_MAX + 1) * TLS_RECORD_OVERHEAD;
}

static int https_encode(void *conn, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	struct https_conn *c = conn;
	size_t cap = https_encode_bound(len);
	int n;

	*outlen = 0;
	if (len && seal(c, in, len) < 0)
		return PROXY_ERROR;
	while (*outlen < cap && (n = BIO_read(c->wbio, out + *outlen, (int)(cap - *outlen))) > 0)
		*outlen += (size_t)n;
	return PROXY_OK;
}

static int https_decode(void *conn, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
			char *err, size_t errlen)
{
	struct https_conn *c = conn;
	int rc;

	if (len && BIO_write(c->rbio, in, (int)len) <= 0) {
		snprintf(err, errlen, "https proxy: out of memory");
		return PROXY_ERROR;
	}
	/* At most a record more than came in: one that began earlier may end now. */
	rc = open_records(c, out, len + TLS_RECORD_MAX, outlen);
	if (rc < 0) {
		tls_error(c->ssl, "reading", err, errlen);
		return PROXY_ERROR;
	}
	return rc > 0 ? PROXY_EOF : PROXY_OK;
}

/* The client ended its stream: close_notify, so the server sees a TLS end, not a cut. */
static void https_finish(void *conn, uint8_t *out, size_t *outlen)
{
	struct https_conn *c = conn;
	int n;

	*outlen = 0;
	if (!c->ssl || !SSL_is_init_finished(c->ssl))
		return;
	SSL_shutdown(c->ssl); /* 0: ours is sent, the server's not yet read; reads go on */
	while (*outlen < PROXY_FINISH_MAX &&
	       (n = BIO_read(c->wbio, out + *outlen, (int)(PROXY_FINISH_MAX - *outlen))) > 0)
		*outlen += (size_t)n;
	ERR_clear_error();
}

static void https_conn_fini(void *conn)
{
	struct https_conn *c = conn;

	if (c->http_conn && proxy_http_ops.conn_fini)
		proxy_http_ops.conn_fini(c->http_conn);
	free(c->http_conn);
	c->http_conn = NULL;
	SSL_free(c->ssl); /* frees the BIOs */
	c->ssl = NULL;
	buf_free(&c->plain_in);
}

const struct proxy_ops proxy_https_ops = {
	.name = "https",
	.conn_size = sizeof(struct https_conn),
	.init = https_init,
	.fini = https_fini,
	.start = https_start,
	.handshake = https_handshake,
	.encode_bound = https_encode_bound,
	.encode = https_encode,
	.decode = https_decode,
	.finish = https_finish,
	.conn_fini = https_conn_fini,
	.udp = PROXY_UDP_NONE,
};
