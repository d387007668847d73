/* fuzz_https.c -- libFuzzer target for the https proxy (proxy/https.c): HTTP CONNECT over
 * TLS. Random bytes never get past a TLS handshake, so the input drives a real TLS server
 * in-process (OpenSSL, memory BIOs, an Ed25519 key and self-signed certificate made once
 * at start-up: Ed25519 signs deterministically, so the TLS byte stream has the same
 * lengths in every run and a flip position means the same thing each time). The client
 * side is the proxy, driven through its ops table the way relay/dial.c and relay/pump.c
 * drive it: start -> bytes to the server; the server's bytes to handshake in pieces of at
 * most 4096 bytes (the relay's handshake read) until OK or ERROR; then decode of what
 * handshake left (or of nothing, as the relay does), encode of client data, decode of the
 * rest of the server's bytes in pieces of at most 64 KiB, finish (close_notify) early or
 * late, conn_fini.
 *
 * The input decides what the server sends inside TLS once it has read the CONNECT request
 * (the reply -- any bytes, so http.c's reply parsing runs inside TLS -- then stream data,
 * optionally blown up to tens of KiB), how the server cuts that into records, whether it
 * ends with close_notify or a bare close, the TLS version (1.2 or 1.3), session tickets,
 * how the server's byte stream is split into the pieces fed to the client, and optionally
 * one byte of that stream flipped.
 *
 * Layout: 10 header bytes, then the reply, then stream data.
 *   [0] bit 0 credentials, bits 1-2 target kind, bit 3 close_notify at the end (else a
 *       bare close), bit 4 flip a byte, bit 5 TLS 1.2 (else 1.3), bit 6 session tickets,
 *       bit 7 finish early (right after the first encode; else after everything)
 *   [1] low 3 bits: client mode (% 5): 0 insecure, server 127.0.0.1; 1 insecure,
 *       proxy.test; 2 ca-file, 127.0.0.1; 3 ca-file, proxy.test; 4 ca-file, wrong.test
 *       (must fail verification); bits 3-7: the largest piece (a scale)
 *   [2] seed of the piece sizes   [3] seed of the server's record sizes (0: one write)
 *   [4..5] flip offset in the server's byte stream (LE), [6] flip mask (0 means 0x01)
 *   [7] stream data blown up to [7] * 512 bytes by repeating it (0: as given)
 *   [8..9] reply length (LE, modulo what is left + 1)
 *
 * Invariants (__builtin_trap): start, encode and finish stay within their bounds
 * (encode_bound, PROXY_FINISH_MAX; the buffers are exactly that big, so ASan sees
 * overruns too); decode never writes more than len + PROXY_DECODE_SLACK; every ERROR has
 * err set (and never names the certificate with insecure: true); what decode gives is
 * always a prefix of the stream data the server sent, even with a flipped byte (a
 * corrupted record is an error, never data); PROXY_EOF only after the server sent
 * close_notify, and then with all the stream data before it; with nothing flipped and a
 * certificate that verifies: no TLS error at all, the handshake ends as http.c ends on
 * the whole plaintext at once (OK, its refusal, or waiting -- or an error at a
 * close_notify inside the reply), decode gives what follows http.c's headers, and once
 * every server byte is in, everything the server sent came out of decode (and the
 * close_notify as EOF when it was sent); the server reads exactly the client's data,
 * then the client's close_notify; ca-file with the wrong name never gets OK. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "proxy/proxy.h"
#include "tests/fuzz/fuzz_target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 10
#define MODES 5
#define HS_PIECE_MAX 4096 /* relay/dial.c reads the handshake reply into a 4096-byte buffer */
#define READ_PIECE_MAX (64 * 1024) /* relay/pump.c's READ_MAX */
#define BLOWUP_UNIT 512

static SSL_CTX *server_ctx;
static void *privs[2][MODES]; /* [credentials][mode], made once */
static void *http_priv; /* http.c's, for the oracle */

static const char *const mode_server[MODES] = { "127.0.0.1", "proxy.test", "127.0.0.1",
						"proxy.test", "wrong.test" };

static void die(const char *what)
{
	fprintf(stderr, "fuzz_https: %s\n", what);
	ERR_print_errors_fp(stderr);
	abort();
}

static void add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext || !X509_add_ext(x, ext, -1))
		die("certificate extension");
	X509_EXTENSION_free(ext);
}

/* The server's key and self-signed certificate, its SSL_CTX, and the PEM in ca_path. */
static void make_server(char *ca_path)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;
	int fd;

	if (!key || !x)
		die("key or certificate");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"proxy.test",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NID_subject_alt_name, "DNS:proxy.test,IP:127.0.0.1");
	if (!X509_sign(x, key, NULL))
		die("signing the certificate");

	server_ctx = SSL_CTX_new(TLS_server_method());
	if (!server_ctx || !SSL_CTX_use_certificate(server_ctx, x) ||
	    !SSL_CTX_use_PrivateKey(server_ctx, key) || !SSL_CTX_check_private_key(server_ctx))
		die("server context");
	SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);

	snprintf(ca_path, 64, "/tmp/fuzz_https_ca_XXXXXX");
	fd = mkstemp(ca_path);
	if (fd < 0 || !(f = fdopen(fd, "w")) || !PEM_write_X509(f, x) || fclose(f) != 0)
		die("writing the CA file");
	X509_free(x);
	EVP_PKEY_free(key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char ca_path[64], err[256];

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR); /* insecure: true warns at every init */
	make_server(ca_path);
	for (int cred = 0; cred < 2; cred++)
		for (int m = 0; m < MODES; m++) {
			struct config_proxy cfg;

			memset(&cfg, 0, sizeof(cfg));
			snprintf(cfg.name, sizeof(cfg.name), "fuzz");
			cfg.type = PROXY_TYPE_HTTPS;
			cfg.port = 443;
			snprintf(cfg.server, sizeof(cfg.server), "%s", mode_server[m]);
			if (cred) {
				snprintf(cfg.username, sizeof(cfg.username), "user");
				snprintf(cfg.password, sizeof(cfg.password), "pass");
			}
			if (m < 2)
				cfg.insecure = true;
			else
				snprintf(cfg.ca_file, sizeof(cfg.ca_file), "%s", ca_path);
			if (proxy_https_ops.init(&cfg, &privs[cred][m], err, sizeof(err)) < 0) {
				fprintf(stderr, "fuzz_https: init: %s\n", err);
				abort();
			}
		}
	unlink(ca_path); /* read by init already */
	{
		struct config_proxy cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.type = PROXY_TYPE_HTTP;
		if (proxy_http_ops.init(&cfg, &http_priv, err, sizeof(err)) < 0)
			abort();
	}
	return 0;
}

/* The in-process TLS server and the two byte streams between it and the client. */
struct server {
	SSL *ssl;
	BIO *rbio, *wbio;
	bool tls_up, replied, closed_notify, saw_close;
	struct buf request; /* the CONNECT request as read */
	struct buf got; /* client stream data, as read */
	struct buf s2c; /* server -> client bytes not yet fed to the client */
	size_t s2c_total; /* offset in the server's stream of the end of s2c */
	bool flip;
	size_t flip_at;
	uint8_t flip_mask;
	bool flipped; /* the flip landed in bytes the server sent */
	/* what to send once the request is in: the reply, then stream data */
	const uint8_t *all;
	size_t all_len;
	uint32_t rec_seed;
	bool close_notify;
};

/* buf_head of an empty buf would be NULL + 0. */
static const uint8_t *head(const struct buf *b)
{
	return buf_used(b) ? buf_head(b) : NULL;
}

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* The server's output into s2c, the flip applied on the way. */
static void server_drain(struct server *sv)
{
	uint8_t tmp[4096];
	int n;

	while ((n = BIO_read(sv->wbio, tmp, sizeof(tmp))) > 0) {
		if (sv->flip && sv->flip_at >= sv->s2c_total &&
		    sv->flip_at < sv->s2c_total + (size_t)n) {
			tmp[sv->flip_at - sv->s2c_total] ^= sv->flip_mask;
			sv->flipped = true;
		}
		sv->s2c_total += (size_t)n;
		if (buf_append(&sv->s2c, tmp, (size_t)n) < 0)
			abort();
	}
}

static void server_write(struct server *sv, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		int n = SSL_write(sv->ssl, p + off, (int)(len - off));
		if (n <= 0)
			die("server SSL_write");
		off += (size_t)n;
	}
}

/* Sends the reply and the stream data, in records cut by rec_seed, then maybe close_notify. */
static void server_reply(struct server *sv)
{
	size_t total = sv->all_len, off = 0;
	uint32_t seed = sv->rec_seed;

	while (off < total) {
		size_t take = total - off;

		if (sv->rec_seed) {
			uint32_t r = rnd(&seed);
			take = 1 + (r >> 4) % ((r & 3) == 0 ? 8 : (r & 3) == 1 ? 64
						     : (r & 3) == 2 ? 2048 : 20000);
			if (take > total - off)
				take = total - off;
		}
		server_write(sv, sv->all + off, take);
		off += take;
	}
	if (sv->close_notify) {
		SSL_shutdown(sv->ssl);
		sv->closed_notify = true;
	}
	sv->replied = true;
}

/* Takes the client's bytes and runs the server as far as it goes. */
static void server_feed(struct server *sv, const uint8_t *p, size_t len)
{
	uint8_t tmp[4096];
	int n;

	if (len && BIO_write(sv->rbio, p, (int)len) != (int)len)
		abort();
	if (!sv->tls_up) {
		n = SSL_do_handshake(sv->ssl);
		if (n <= 0) {
			ERR_clear_error(); /* WANT_READ, or the client gave up: either way, wait */
			server_drain(sv);
			return;
		}
		sv->tls_up = true;
	}
	for (;;) {
		n = SSL_read(sv->ssl, tmp, sizeof(tmp));
		if (n > 0) {
			if (buf_append(sv->replied ? &sv->got : &sv->request, tmp, (size_t)n) < 0)
				abort();
		} else {
			if (SSL_get_error(sv->ssl, n) == SSL_ERROR_ZERO_RETURN)
				sv->saw_close = true;
			ERR_clear_error();
			break;
		}
		if (!sv->replied) {
			const uint8_t *r = head(&sv->request);
			size_t rl = buf_used(&sv->request);

			/* the request is http.c's: "CONNECT host:port HTTP/1.1\r\n...\r\n\r\n" */
			if (rl >= 4 && memcmp(r + rl - 4, "\r\n\r\n", 4) == 0) {
				if (rl < 8 || memcmp(r, "CONNECT ", 8) != 0)
					__builtin_trap();
				server_reply(sv);
			} else if (rl > 4096) {
				__builtin_trap(); /* no end to the request */
			}
		}
	}
	server_drain(sv);
}

struct run {
	struct server sv;
	uint32_t chunk_seed;
	size_t chunk_scale;
	struct buf decoded;
	bool eof, error;
	/* what decode must give: what follows the reply headers as http.c reads them */
	const uint8_t *exp;
	size_t exp_len;
};

static size_t piece(struct run *r, size_t max)
{
	size_t avail = buf_used(&r->sv.s2c), take;
	uint32_t x = rnd(&r->chunk_seed);

	take = (x & 3) == 0 ? avail : 1 + (x >> 2) % r->chunk_scale;
	if (take > avail)
		take = avail;
	if (take > max)
		take = max;
	return take;
}

/* decode as relay/pump.c calls it, with the checks. */
static void do_decode(struct run *r, void *conn, const uint8_t *p, size_t len)
{
	static const uint8_t none[1];
	uint8_t *out = malloc(len + PROXY_DECODE_SLACK);
	size_t n = (size_t)-1;
	char err[160];
	int rc;

	if (!out)
		abort();
	err[0] = '\0';
	rc = proxy_https_ops.decode(conn, len ? p : none, len, out, &n, err, sizeof(err));
	if (rc == PROXY_ERROR) {
		if (!err[0])
			__builtin_trap();
		r->error = true;
		free(out);
		return;
	}
	if ((rc != PROXY_OK && rc != PROXY_EOF) || n > len + PROXY_DECODE_SLACK)
		__builtin_trap();
	if (buf_append(&r->decoded, out, n) < 0)
		abort();
	free(out);
	/* never anything but the server's stream data, in order */
	if (buf_used(&r->decoded) > r->exp_len ||
	    (buf_used(&r->decoded) &&
	     memcmp(head(&r->decoded), r->exp, buf_used(&r->decoded)) != 0))
		__builtin_trap();
	if (rc == PROXY_EOF) {
		if (!r->sv.closed_notify || buf_used(&r->decoded) != r->exp_len)
			__builtin_trap();
		r->eof = true;
	}
}

static void do_finish(struct run *r, void *conn)
{
	uint8_t *out = malloc(PROXY_FINISH_MAX);
	size_t n = (size_t)-1;

	if (!out)
		abort();
	proxy_https_ops.finish(conn, out, &n);
	if (n > PROXY_FINISH_MAX)
		__builtin_trap();
	server_feed(&r->sv, out, n);
	free(out);
}

static void do_encode(struct run *r, void *conn, const uint8_t *p, size_t len)
{
	size_t cap = proxy_https_ops.encode_bound(len), n = (size_t)-1;
	uint8_t *out = malloc(cap ? cap : 1);

	if (!out)
		abort();
	if (proxy_https_ops.encode(conn, p, len, out, &n) != PROXY_OK || n > cap)
		__builtin_trap();
	server_feed(&r->sv, out, n);
	free(out);
}

/* http.c on the whole plaintext at once: PROXY_OK with *consumed the header bytes,
 * PROXY_NEED_MORE or PROXY_ERROR. What https.c must make of it, fed a byte at a time. */
static int oracle(const struct target *t, const uint8_t *all, size_t len, size_t *consumed)
{
	struct buf in = { 0 }, out = { 0 };
	void *hc = calloc(1, proxy_http_ops.conn_size);
	char err[256];
	int rc;

	if (!hc || (len && buf_append(&in, all, len) < 0))
		abort();
	if (proxy_http_ops.start(http_priv, hc, t, &out, err, sizeof(err)) != PROXY_NEED_MORE)
		__builtin_trap();
	rc = proxy_http_ops.handshake(http_priv, hc, &in, &out, err, sizeof(err));
	*consumed = len - buf_used(&in);
	buf_free(&in);
	buf_free(&out);
	free(hc);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t client_data[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct run r;
	struct server *sv = &r.sv;
	struct buf in = { 0 }, out = { 0 };
	struct target t;
	void *priv, *conn;
	uint8_t *all;
	const uint8_t *stream;
	char err[256];
	unsigned mode;
	bool verified, finished = false;
	size_t rest, reply_len, stream_len, all_len, consumed = 0;
	int rc, expect;

	if (size < HDR)
		return 0;
	memset(&r, 0, sizeof(r));
	mode = (data[1] & 7) % MODES;
	priv = privs[data[0] & 1][mode];
	verified = mode != 4; /* the certificate is good (or not looked at) */
	r.chunk_scale = 1 + (size_t)(data[1] >> 3) * (data[1] >> 3) * 8; /* 1 .. 7689 */
	r.chunk_seed = data[2];
	sv->rec_seed = data[3];
	sv->flip = data[0] & 0x10;
	sv->flip_at = (size_t)data[4] | (size_t)data[5] << 8;
	sv->flip_mask = data[6] ? data[6] : 1;
	sv->close_notify = data[0] & 8;
	rest = size - HDR;
	reply_len = ((size_t)data[8] | (size_t)data[9] << 8) % (rest + 1);
	stream = data + HDR + reply_len;
	stream_len = rest - reply_len;
	if (data[7]) /* blown up by repeating */
		stream_len = (size_t)data[7] * BLOWUP_UNIT;
	all_len = reply_len + stream_len;
	all = malloc(all_len ? all_len : 1);
	if (!all)
		abort();
	memcpy(all, data + HDR, reply_len);
	for (size_t i = 0; i < stream_len; i++)
		all[reply_len + i] = data[7] ? (rest > reply_len ? stream[i % (rest - reply_len)]
								: (uint8_t)i)
					     : stream[i];
	sv->all = all;
	sv->all_len = all_len;

	t = make_target((data[0] >> 1) & 3);
	expect = oracle(&t, all, all_len, &consumed);
	if (expect == PROXY_OK) {
		r.exp = all + consumed;
		r.exp_len = all_len - consumed;
	}

	sv->ssl = SSL_new(server_ctx);
	sv->rbio = BIO_new(BIO_s_mem());
	sv->wbio = BIO_new(BIO_s_mem());
	if (!sv->ssl || !sv->rbio || !sv->wbio)
		abort();
	SSL_set_bio(sv->ssl, sv->rbio, sv->wbio);
	SSL_set_accept_state(sv->ssl);
	if (data[0] & 0x20)
		SSL_set_max_proto_version(sv->ssl, TLS1_2_VERSION);
	SSL_set_num_tickets(sv->ssl, data[0] & 0x40 ? 2 : 0);

	conn = calloc(1, proxy_https_ops.conn_size);
	if (!conn)
		abort();
	err[0] = '\0';
	rc = proxy_https_ops.start(priv, conn, &t, &out, err, sizeof(err));
	if (rc != PROXY_NEED_MORE || buf_used(&out) == 0)
		__builtin_trap();
	server_feed(sv, head(&out), buf_used(&out));
	buf_free(&out);

	/* the handshake: the server's bytes in pieces of at most HS_PIECE_MAX */
	while (rc == PROXY_NEED_MORE && buf_used(&sv->s2c)) {
		size_t take = piece(&r, HS_PIECE_MAX);

		if (buf_append(&in, head(&sv->s2c), take) < 0)
			abort();
		buf_consume(&sv->s2c, take);
		err[0] = '\0';
		rc = proxy_https_ops.handshake(priv, conn, &in, &out, err, sizeof(err));
		if (rc == PROXY_ERROR) {
			/* insecure: true verifies nothing, so no error blames the certificate */
			if (!err[0] || (mode < 2 && strncmp(err, "https proxy", 11) == 0 &&
					strstr(err, ": certificate: ")))
				__builtin_trap();
			break;
		}
		if (rc != PROXY_OK && rc != PROXY_NEED_MORE)
			__builtin_trap();
		server_feed(sv, head(&out), buf_used(&out));
		buf_free(&out);
	}
	if (rc == PROXY_OK && !verified)
		__builtin_trap(); /* a certificate for another name was taken */
	if (!sv->flipped && verified) {
		/* nothing corrupted, a good certificate: what http.c says of the plaintext */
		if (expect == PROXY_OK && rc != PROXY_OK)
			__builtin_trap();
		if (expect == PROXY_ERROR &&
		    (rc != PROXY_ERROR || strncmp(err, "http proxy", 10) != 0))
			__builtin_trap();
		/* an unfinished reply: waits on, or ends at the close_notify after it */
		if (expect == PROXY_NEED_MORE &&
		    (sv->closed_notify ? rc != PROXY_ERROR ||
						 !strstr(err, "reading the CONNECT reply")
				       : rc != PROXY_NEED_MORE))
			__builtin_trap();
	}
	if (rc == PROXY_OK) {
		bool early = data[0] & 0x80;

		if (expect != PROXY_OK) /* OK where http.c would not be: only with a flip, */
			__builtin_trap(); /* and a flip never gets through */
		/* the relay's session_start_relay: what is left, or nothing, through decode */
		do_decode(&r, conn, head(&in), buf_used(&in));
		buf_free(&in);
		if (!r.error)
			do_encode(&r, conn, client_data, sizeof(client_data) - 1);
		if (early) {
			do_finish(&r, conn);
			finished = true;
		}
		while (!r.error && !r.eof && buf_used(&sv->s2c)) {
			size_t take = piece(&r, READ_PIECE_MAX);

			do_decode(&r, conn, head(&sv->s2c), take);
			buf_consume(&sv->s2c, take);
		}
		if (!finished)
			do_finish(&r, conn);
		if (!sv->flipped) {
			/* every server byte is in: all of it came out, the end as it was sent */
			if (r.error || buf_used(&r.decoded) != r.exp_len ||
			    r.eof != sv->closed_notify)
				__builtin_trap();
			/* and the server read the client's data and its close_notify */
			if (buf_used(&sv->got) != sizeof(client_data) - 1 ||
			    memcmp(head(&sv->got), client_data, sizeof(client_data) - 1) != 0 ||
			    !sv->saw_close)
				__builtin_trap();
		}
	}

	proxy_https_ops.conn_fini(conn);
	free(conn);
	SSL_free(sv->ssl);
	buf_free(&sv->request);
	buf_free(&sv->got);
	buf_free(&sv->s2c);
	buf_free(&r.decoded);
	buf_free(&in);
	buf_free(&out);
	free(all);
	ERR_clear_error();
	return 0;
}
