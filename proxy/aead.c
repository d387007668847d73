/* aead.c -- the shadowsocks AEAD codec: the method table, key derivation (MD5 and
 * HKDF-SHA1 on libcrypto's digests), the per-direction TCP chunk stream and UDP packets, on
 * OpenSSL EVP (chacha20-poly1305, aes-*-gcm) and libsodium (xchacha20, and chacha20 or
 * aes-256-gcm where libcrypto lacks them). */
#include "proxy/aead.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#define LEN_UNIT (2 + AEAD_TAG_LEN) /* the sealed length field of a chunk */
#define SUBKEY_INFO "ss-subkey"

enum aead_impl { IMPL_CHACHA, IMPL_XCHACHA, IMPL_SODIUM_AES256, IMPL_EVP };

struct aead_method {
	const char *name;
	enum aead_impl impl;
	const char *evp_name; /* IMPL_EVP: the name OpenSSL fetches it by */
	uint8_t key_len, salt_len, nonce_len;
	uint8_t slot; /* IMPL_EVP: its entry in evp_cache */
	bool small_sodium; /* IMPL_EVP chacha20-poly1305: short inputs through libsodium */
};

/* EVP's fixed cost per call (nonce set, Poly1305 set-up, tag through a ctrl) is 1.0 us
 * for ChaCha20-Poly1305, libsodium's one-shot call 0.45 us for a 2-byte input: every
 * TCP chunk's sealed length field is one. Same algorithm (RFC 8439), same bytes. */
#define SMALL_SODIUM_MAX 256

/* aead_method_find takes the first usable entry of a name: OpenSSL's, whose chacha20-
 * poly1305 and AES-GCM use the widest vector units the CPU has (AVX-512 here: 5.7x and
 * 3.3x libsodium's seal rate in 16 KiB writes), then libsodium's. */
static const struct aead_method aead_methods[] = {
	{ "chacha20-ietf-poly1305", IMPL_EVP, "ChaCha20-Poly1305", 32, 32, 12, 0, true },
	{ "chacha20-ietf-poly1305", IMPL_CHACHA, NULL, 32, 32, 12, 0, false },
	{ "aes-256-gcm", IMPL_EVP, "AES-256-GCM", 32, 32, 12, 1, false },
	{ "aes-256-gcm", IMPL_SODIUM_AES256, NULL, 32, 32, 12, 0, false },
	{ "aes-128-gcm", IMPL_EVP, "AES-128-GCM", 16, 16, 12, 2, false },
	{ "xchacha20-ietf-poly1305", IMPL_XCHACHA, NULL, 32, 32, 24, 0, false },
};

/* OpenSSL objects fetched once and kept for the process: an EVP_CIPHER given by its
 * legacy getter (EVP_chacha20_poly1305()) is looked up again in the provider store, under
 * a lock, on every EVP_EncryptInit_ex. A UDP packet has a key of its own, so that, a new
 * cipher context and an HKDF context happened per packet: 20 us of a 1200-byte packet's
 * 21 us. The context of a UDP packet is one per method, keyed again for each packet (the
 * program is one thread). */
#define EVP_SLOTS 3
static struct {
	EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *udp; /* aead_udp_seal/open */
	bool tried;
} evp_cache[EVP_SLOTS];

static EVP_CIPHER *evp_cipher(const struct aead_method *m)
{
	if (!evp_cache[m->slot].tried) {
		evp_cache[m->slot].tried = true;
		evp_cache[m->slot].cipher = EVP_CIPHER_fetch(NULL, m->evp_name, NULL);
	}
	return evp_cache[m->slot].cipher;
}

#define SUPPORTED_LIST \
	"chacha20-ietf-poly1305, aes-256-gcm, aes-128-gcm, xchacha20-ietf-poly1305"

/* Stream ciphers of shadowsocks, named so the refusal can say why. */
static const char *const stream_ciphers[] = {
	"table", "rc4", "rc4-md5", "rc4-md5-6", "salsa20", "chacha20", "chacha20-ietf",
};

struct aead_key {
	const struct aead_method *m;
	uint8_t master[AEAD_KEY_MAX];
};

/* A keyed cipher. The union comes first: libsodium's AES state wants 16-byte alignment. */
struct aead_cipher {
	union {
		crypto_aead_aes256gcm_state aes;
		uint8_t key[AEAD_KEY_MAX];
	} u;
	const struct aead_method *m;
	EVP_CIPHER_CTX *evp;
};

enum stream_state { ST_SALT, ST_LEN, ST_PAYLOAD, ST_DEAD };

struct aead_stream {
	struct aead_cipher c;
	const struct aead_method *m;
	enum aead_dir dir;
	enum stream_state st;
	int err; /* the AEAD_ERR_* that killed it */
	bool salt_sent; /* encoder */
	uint8_t nonce[AEAD_NONCE_MAX];
	uint8_t salt[AEAD_SALT_MAX]; /* encoder: sent first */
	uint8_t master[AEAD_KEY_MAX]; /* decoder: until the salt arrives, then wiped */
	/* Decoder: the unit (salt, sealed length, sealed payload) being read is `need`
	 * bytes, `have` of them held from earlier calls: a salt or length in `unit`, a
	 * payload in `pending`, which exists only while it holds a partial payload. */
	size_t need, have;
	uint8_t unit[AEAD_SALT_MAX > LEN_UNIT ? AEAD_SALT_MAX : LEN_UNIT];
	uint8_t *pending; /* AEAD_CHUNK_MAX + AEAD_TAG_LEN */
};

static bool method_usable(const struct aead_method *m)
{
	if (sodium_init() < 0)
		return false;
	if (m->impl == IMPL_EVP)
		return evp_cipher(m) != NULL;
	return m->impl != IMPL_SODIUM_AES256 || crypto_aead_aes256gcm_is_available();
}

const struct aead_method *aead_method_find(const char *name, char *err, size_t errlen)
{
	size_t i, len = strlen(name);

	for (i = 0; i < sizeof(aead_methods) / sizeof(aead_methods[0]); i++)
		if (strcmp(aead_methods[i].name, name) == 0 && method_usable(&aead_methods[i]))
			return &aead_methods[i];
	for (i = 0; i < sizeof(stream_ciphers) / sizeof(stream_ciphers[0]); i++)
		if (strcmp(stream_ciphers[i], name) == 0)
			goto stream;
	if ((len > 4 && (strcmp(name + len - 4, "-cfb") == 0 ||
			 strcmp(name + len - 4, "-ctr") == 0 ||
			 strcmp(name + len - 4, "-ofb") == 0)) ||
	    (len > 5 && (strcmp(name + len - 5, "-cfb8") == 0 ||
			 strcmp(name + len - 5, "-cfb1") == 0)))
		goto stream;
	if (strncmp(name, "2022-", 5) == 0) {
		snprintf(err, errlen,
			 "method \"%s\" is a shadowsocks 2022 (SIP022) method, which is not "
			 "supported; use one of the AEAD methods " SUPPORTED_LIST,
			 name);
		return NULL;
	}
	snprintf(err, errlen, "unknown method \"%s\"; supported AEAD methods: " SUPPORTED_LIST,
		 name);
	return NULL;
stream:
	snprintf(err, errlen,
		 "method \"%s\" is a stream cipher: stream ciphers have no integrity protection, "
		 "are deprecated by shadowsocks and not supported; use one of the AEAD methods "
		 SUPPORTED_LIST,
		 name);
	return NULL;
}

const struct aead_method *aead_method_at(size_t i)
{
	size_t k;

	for (k = 0; k < sizeof(aead_methods) / sizeof(aead_methods[0]); k++) {
		if (!method_usable(&aead_methods[k]))
			continue;
		if (i-- == 0)
			return &aead_methods[k];
	}
	return NULL;
}

const char *aead_method_name(const struct aead_method *m) { return m->name; }
const char *aead_method_backend(const struct aead_method *m)
{
	return m->impl == IMPL_EVP ? "openssl" : "libsodium";
}
size_t aead_method_key_len(const struct aead_method *m) { return m->key_len; }
size_t aead_method_salt_len(const struct aead_method *m) { return m->salt_len; }
size_t aead_method_nonce_len(const struct aead_method *m) { return m->nonce_len; }

int aead_derive_master(const char *password, uint8_t *key, size_t keylen)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t done = 0, n, pwlen = strlen(password);
	EVP_MD_CTX *ctx;
	int rc = -1;

	if (keylen > 64)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	while (done < keylen) {
		if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
		    (done > 0 && EVP_DigestUpdate(ctx, md, mdlen) != 1) ||
		    EVP_DigestUpdate(ctx, password, pwlen) != 1 ||
		    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
			goto out;
		n = keylen - done < mdlen ? keylen - done : mdlen;
		memcpy(key + done, md, n);
		done += n;
	}
	rc = 0;
out:
	sodium_memzero(md, sizeof(md));
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* HMAC-SHA1 of the concatenated parts, on libcrypto's SHA-1 (a digest fetched once, one
 * reused context). RFC 2104: keys over a block are hashed first. */
#define SHA1_LEN 20
#define SHA1_BLOCK 64
static int hmac_sha1(const uint8_t *key, size_t keylen, const uint8_t *const part[],
		     const size_t part_len[], size_t nparts, uint8_t out[SHA1_LEN])
{
	static EVP_MD *md;
	static EVP_MD_CTX *ctx;
	uint8_t pad[SHA1_BLOCK], inner[SHA1_LEN];
	unsigned int n;
	size_t i;
	int rc = -1;

	if (!md && !(md = EVP_MD_fetch(NULL, "SHA1", NULL)))
		return -1;
	if (!ctx && !(ctx = EVP_MD_CTX_new()))
		return -1;
	memset(pad, 0, sizeof(pad));
	if (keylen > SHA1_BLOCK) {
		if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, key, keylen) != 1 ||
		    EVP_DigestFinal_ex(ctx, pad, &n) != 1)
			goto out;
	} else if (keylen > 0) {
		memcpy(pad, key, keylen);
	}
	for (i = 0; i < SHA1_BLOCK; i++)
		pad[i] ^= 0x36;
	if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, SHA1_BLOCK) != 1)
		goto out;
	for (i = 0; i < nparts; i++)
		if (part_len[i] > 0 && EVP_DigestUpdate(ctx, part[i], part_len[i]) != 1)
			goto out;
	if (EVP_DigestFinal_ex(ctx, inner, &n) != 1)
		goto out;
	for (i = 0; i < SHA1_BLOCK; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, SHA1_BLOCK) != 1 ||
	    EVP_DigestUpdate(ctx, inner, SHA1_LEN) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1)
		goto out;
	rc = 0;
out:
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	return rc;
}

/* HKDF (RFC 5869) with SHA-1, on hmac_sha1. libcrypto's own HKDF builds a provider
 * context and copies key, salt and info on every call: 4.4 us per subkey here against
 * 1.6 us this way, and every UDP packet derives one. */
int aead_hkdf_sha1(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
		   const uint8_t *info, size_t infolen, uint8_t *okm, size_t okmlen)
{
	uint8_t prk[SHA1_LEN], t[SHA1_LEN], counter;
	const uint8_t *part[3];
	size_t len[3], done = 0, n;
	int rc = -1;

	if (okmlen > 255 * SHA1_LEN)
		return -1;
	part[0] = ikm;
	len[0] = ikmlen;
	if (hmac_sha1(salt, saltlen, part, len, 1, prk) < 0)
		goto out;
	for (counter = 1; done < okmlen; counter++) {
		/* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty */
		part[0] = t;
		len[0] = counter > 1 ? SHA1_LEN : 0;
		part[1] = info;
		len[1] = infolen;
		part[2] = &counter;
		len[2] = 1;
		if (hmac_sha1(prk, SHA1_LEN, part, len, 3, t) < 0)
			goto out;
		n = okmlen - done < SHA1_LEN ? okmlen - done : SHA1_LEN;
		memcpy(okm + done, t, n);
		done += n;
	}
	rc = 0;
out:
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	return rc;
}

static int derive_subkey(const struct aead_method *m, const uint8_t *master,
			 const uint8_t *salt, uint8_t *subkey)
{
	return aead_hkdf_sha1(master, m->key_len, salt, m->salt_len,
			      (const uint8_t *)SUBKEY_INFO, sizeof(SUBKEY_INFO) - 1, subkey,
			      m->key_len);
}

/* The cipher layer: one keyed AEAD, sealing and opening with detached tags. */

static int cipher_init(struct aead_cipher *c, const struct aead_method *m, const uint8_t *key)
{
	c->m = m;
	switch (m->impl) {
	case IMPL_CHACHA:
	case IMPL_XCHACHA:
		memcpy(c->u.key, key, m->key_len);
		return 0;
	case IMPL_SODIUM_AES256:
		return crypto_aead_aes256gcm_beforenm(&c->u.aes, key) == 0 ? 0 : -1;
	case IMPL_EVP:
		if (m->small_sodium)
			memcpy(c->u.key, key, m->key_len);
		if (!c->evp && !(c->evp = EVP_CIPHER_CTX_new()))
			return -1;
		return EVP_EncryptInit_ex(c->evp, evp_cipher(m), NULL, key, NULL) == 1 ? 0 : -1;
	}
	return -1;
}

static void cipher_fini(struct aead_cipher *c)
{
	EVP_CIPHER_CTX_free(c->evp); /* cleanses the key schedule */
	sodium_memzero(c, sizeof(*c));
}

/* Seals len bytes of in into out and the tag into tag. 0 or -1. */
static int cipher_seal(struct aead_cipher *c, const uint8_t *nonce, const uint8_t *ad,
		       size_t adlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	int n;

	switch (c->m->impl) {
	case IMPL_CHACHA:
		return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			out, tag, NULL, in, len, ad, adlen, NULL, nonce, c->u.key);
	case IMPL_XCHACHA:
		return crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
			out, tag, NULL, in, len, ad, adlen, NULL, nonce, c->u.key);
	case IMPL_SODIUM_AES256:
		return crypto_aead_aes256gcm_encrypt_detached_afternm(out, tag, NULL, in, len, ad,
								      adlen, NULL, nonce, &c->u.aes);
	case IMPL_EVP:
		if (c->m->small_sodium && len <= SMALL_SODIUM_MAX)
			return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
				out, tag, NULL, in, len, ad, adlen, NULL, nonce, c->u.key);
		if (len > INT_MAX || adlen > INT_MAX ||
		    EVP_EncryptInit_ex(c->evp, NULL, NULL, NULL, nonce) != 1 ||
		    (adlen > 0 && EVP_EncryptUpdate(c->evp, NULL, &n, ad, (int)adlen) != 1) ||
		    (len > 0 && EVP_EncryptUpdate(c->evp, out, &n, in, (int)len) != 1) ||
		    EVP_EncryptFinal_ex(c->evp, out + len, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, tag) != 1)
			return -1;
		return 0;
	}
	return -1;
}

/* Opens len bytes of in with tag into out. 0, AEAD_ERR_AUTH or AEAD_ERR_INTERNAL. */
static int cipher_open(struct aead_cipher *c, const uint8_t *nonce, const uint8_t *ad,
		       size_t adlen, const uint8_t *in, size_t len, const uint8_t *tag,
		       uint8_t *out)
{
	uint8_t t[AEAD_TAG_LEN];
	int n, rc = 0;

	switch (c->m->impl) {
	case IMPL_CHACHA:
		rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, in, len, tag,
									ad, adlen, nonce, c->u.key);
		break;
	case IMPL_XCHACHA:
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL, in, len, tag,
									 ad, adlen, nonce, c->u.key);
		break;
	case IMPL_SODIUM_AES256:
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, in, len, tag, ad,
								    adlen, nonce, &c->u.aes);
		break;
	case IMPL_EVP:
		if (c->m->small_sodium && len <= SMALL_SODIUM_MAX) {
			rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
				out, NULL, in, len, tag, ad, adlen, nonce, c->u.key);
			break;
		}
		memcpy(t, tag, sizeof(t));
		if (len > INT_MAX || adlen > INT_MAX ||
		    EVP_DecryptInit_ex(c->evp, NULL, NULL, NULL, nonce) != 1 ||
		    (adlen > 0 && EVP_DecryptUpdate(c->evp, NULL, &n, ad, (int)adlen) != 1) ||
		    (len > 0 && EVP_DecryptUpdate(c->evp, out, &n, in, (int)len) != 1) ||
		    EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN, t) != 1)
			return AEAD_ERR_INTERNAL;
		rc = EVP_DecryptFinal_ex(c->evp, out + len, &n) > 0 ? 0 : -1;
		break;
	}
	return rc == 0 ? 0 : AEAD_ERR_AUTH;
}

int aead_seal(const struct aead_method *m, const uint8_t *key, const uint8_t *nonce,
	      const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
	struct aead_cipher c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (cipher_init(&c, m, key) == 0 &&
	    cipher_seal(&c, nonce, ad, adlen, in, len, out, out + len) == 0)
		rc = 0;
	cipher_fini(&c);
	return rc;
}

int aead_open(const struct aead_method *m, const uint8_t *key, const uint8_t *nonce,
	      const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
	struct aead_cipher c;
	int rc = -1;

	if (len < AEAD_TAG_LEN)
		return -1;
	len -= AEAD_TAG_LEN;
	memset(&c, 0, sizeof(c));
	if (cipher_init(&c, m, key) == 0 &&
	    cipher_open(&c, nonce, ad, adlen, in, len, in + len, out) == 0)
		rc = 0;
	cipher_fini(&c);
	return rc;
}

/* Keys */

struct aead_key *aead_key_new(const struct aead_method *m, const char *password)
{
	struct aead_key *k;

	if (!password[0])
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->m = m;
	if (aead_derive_master(password, k->master, m->key_len) < 0) {
		aead_key_free(k);
		return NULL;
	}
	return k;
}

void aead_key_free(struct aead_key *k)
{
	if (!k)
		return;
	sodium_memzero(k, sizeof(*k));
	free(k);
}

const struct aead_method *aead_key_method(const struct aead_key *k) { return k->m; }

/* TCP streams */

struct aead_stream *aead_stream_new(const struct aead_key *k, enum aead_dir dir)
{
	const struct aead_method *m = k->m;
	uint8_t subkey[AEAD_KEY_MAX];
	struct aead_stream *s;

	/* sizeof is a multiple of the alignment, as aligned_alloc wants. */
	s = aligned_alloc(_Alignof(struct aead_stream), sizeof(*s));
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->m = m;
	s->dir = dir;
	if (dir == AEAD_ENCRYPT) {
		randombytes_buf(s->salt, m->salt_len);
		if (derive_subkey(m, k->master, s->salt, subkey) < 0 ||
		    cipher_init(&s->c, m, subkey) < 0)
			goto fail;
		s->st = ST_LEN;
	} else {
		memcpy(s->master, k->master, m->key_len);
		s->st = ST_SALT;
		s->need = m->salt_len;
	}
	sodium_memzero(subkey, sizeof(subkey));
	return s;
fail:
	sodium_memzero(subkey, sizeof(subkey));
	aead_stream_free(s);
	return NULL;
}

void aead_stream_free(struct aead_stream *s)
{
	if (!s)
		return;
	cipher_fini(&s->c);
	free(s->pending);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

size_t aead_stream_encrypt_bound(size_t len)
{
	size_t chunks = (len + AEAD_CHUNK_MAX - 1) / AEAD_CHUNK_MAX;

	return AEAD_SALT_MAX + len + chunks * (LEN_UNIT + AEAD_TAG_LEN);
}

int aead_stream_encrypt(struct aead_stream *s, const uint8_t *in, size_t len, uint8_t *out,
			size_t *outlen)
{
	size_t o = 0, n;
	uint8_t lb[2];

	*outlen = 0;
	if (s->dir != AEAD_ENCRYPT || s->st == ST_DEAD)
		return -1;
	if (!s->salt_sent) {
		memcpy(out, s->salt, s->m->salt_len);
		o = s->m->salt_len;
		s->salt_sent = true;
	}
	while (len > 0) {
		n = len < AEAD_CHUNK_MAX ? len : AEAD_CHUNK_MAX;
		lb[0] = (uint8_t)(n >> 8);
		lb[1] = (uint8_t)n;
		if (cipher_seal(&s->c, s->nonce, NULL, 0, lb, 2, out + o, out + o + 2) < 0)
			goto fail;
		sodium_increment(s->nonce, s->m->nonce_len);
		o += LEN_UNIT;
		if (cipher_seal(&s->c, s->nonce, NULL, 0, in, n, out + o, out + o + n) < 0)
			goto fail;
		sodium_increment(s->nonce, s->m->nonce_len);
		o += n + AEAD_TAG_LEN;
		in += n;
		len -= n;
	}
	*outlen = o;
	return 0;
fail:
	s->st = ST_DEAD;
	s->err = AEAD_ERR_INTERNAL;
	return -1;
}

/* Handles one complete unit u of the decoder; an opened payload goes to out + *o. */
static int stream_unit(struct aead_stream *s, const uint8_t *u, uint8_t *out, size_t *o)
{
	const struct aead_method *m = s->m;
	uint8_t subkey[AEAD_KEY_MAX], lb[2];
	size_t n;
	int rc;

	switch (s->st) {
	case ST_SALT:
		rc = derive_subkey(m, s->master, u, subkey) < 0 || cipher_init(&s->c, m, subkey) < 0
			     ? AEAD_ERR_INTERNAL
			     : 0;
		sodium_memzero(subkey, sizeof(subkey));
		sodium_memzero(s->master, sizeof(s->master));
		if (rc < 0)
			return rc;
		s->st = ST_LEN;
		s->need = LEN_UNIT;
		return 0;
	case ST_LEN:
		rc = cipher_open(&s->c, s->nonce, NULL, 0, u, 2, u + 2, lb);
		if (rc < 0)
			return rc;
		sodium_increment(s->nonce, m->nonce_len);
		n = (size_t)lb[0] << 8 | lb[1];
		if (n > AEAD_CHUNK_MAX)
			return AEAD_ERR_FRAME;
		s->st = ST_PAYLOAD;
		s->need = n + AEAD_TAG_LEN;
		return 0;
	case ST_PAYLOAD:
		n = s->need - AEAD_TAG_LEN;
		rc = cipher_open(&s->c, s->nonce, NULL, 0, u, n, u + n, out + *o);
		if (rc < 0)
			return rc;
		sodium_increment(s->nonce, m->nonce_len);
		*o += n;
		s->st = ST_LEN;
		s->need = LEN_UNIT;
		return 0;
	case ST_DEAD:
		break;
	}
	return AEAD_ERR_INTERNAL;
}

int aead_stream_decrypt(struct aead_stream *s, const uint8_t *in, size_t len, uint8_t *out,
			size_t *outlen)
{
	size_t pos = 0, o = 0, take;
	const uint8_t *u;
	uint8_t *hold;
	int rc;

	*outlen = 0;
	if (s->dir != AEAD_DECRYPT)
		return AEAD_ERR_INTERNAL;
	if (s->st == ST_DEAD)
		return s->err;
	while (pos < len) {
		if (s->have == 0 && len - pos >= s->need) {
			u = in + pos; /* the whole unit is in the input: open it from there */
			pos += s->need;
		} else {
			hold = s->unit;
			if (s->st == ST_PAYLOAD) {
				if (!s->pending &&
				    !(s->pending = malloc(AEAD_CHUNK_MAX + AEAD_TAG_LEN))) {
					rc = AEAD_ERR_NOMEM;
					goto fail;
				}
				hold = s->pending;
			}
			take = s->need - s->have;
			if (take > len - pos)
				take = len - pos;
			memcpy(hold + s->have, in + pos, take);
			s->have += take;
			pos += take;
			if (s->have < s->need)
				break;
			u = hold;
			s->have = 0;
		}
		rc = stream_unit(s, u, out, &o);
		if (rc < 0)
			goto fail;
	}
	*outlen = o;
	/* An idle connection should not keep a chunk-sized buffer. */
	if (s->pending && !(s->st == ST_PAYLOAD && s->have > 0)) {
		free(s->pending);
		s->pending = NULL;
	}
	return s->st == ST_LEN && s->have == 0 ? AEAD_OK : AEAD_NEED_MORE;
fail:
	s->st = ST_DEAD;
	s->err = rc;
	free(s->pending);
	s->pending = NULL;
	return rc;
}

/* UDP packets */

/* Salts come from a pool refilled 2 KiB at a time: libsodium asks the kernel on every
 * call (0.4 us), and every UDP packet draws one. The pool holds nothing secret: a salt
 * is sent in the clear. */
static void salt_draw(uint8_t *out, size_t len)
{
	static uint8_t pool[2048];
	static size_t left;

	if (len > sizeof(pool)) {
		randombytes_buf(out, len);
		return;
	}
	if (left < len) {
		randombytes_buf(pool, sizeof(pool));
		left = sizeof(pool);
	}
	memcpy(out, pool + sizeof(pool) - left, len);
	sodium_memzero(pool + sizeof(pool) - left, len); /* never handed out twice */
	left -= len;
}

/* A UDP packet's cipher: for OpenSSL the method's shared context keyed again, so no
 * context is built per packet; others as for a stream. */
static int udp_cipher_init(struct aead_cipher *c, const struct aead_method *m,
			   const uint8_t *key)
{
	EVP_CIPHER_CTX **ctx = &evp_cache[m->slot].udp;

	memset(c, 0, sizeof(*c));
	if (m->impl != IMPL_EVP)
		return cipher_init(c, m, key);
	c->m = m;
	if (!*ctx) {
		if (!(*ctx = EVP_CIPHER_CTX_new()))
			return -1;
		if (EVP_EncryptInit_ex(*ctx, evp_cipher(m), NULL, NULL, NULL) != 1) {
			EVP_CIPHER_CTX_free(*ctx);
			*ctx = NULL;
			return -1;
		}
	}
	c->evp = *ctx;
	if (m->small_sodium)
		memcpy(c->u.key, key, m->key_len);
	return EVP_EncryptInit_ex(c->evp, NULL, NULL, key, NULL) == 1 ? 0 : -1;
}

static void udp_cipher_fini(struct aead_cipher *c)
{
	if (c->m && c->m->impl == IMPL_EVP)
		c->evp = NULL; /* the shared context stays */
	cipher_fini(c);
}

size_t aead_udp_overhead(const struct aead_method *m) { return m->salt_len + AEAD_TAG_LEN; }

int aead_udp_seal(const struct aead_key *k, const uint8_t *in, size_t len, uint8_t *out,
		  size_t *outlen)
{
	static const uint8_t zero_nonce[AEAD_NONCE_MAX];
	const struct aead_method *m = k->m;
	uint8_t subkey[AEAD_KEY_MAX];
	struct aead_cipher c;
	int rc = -1;

	*outlen = 0;
	salt_draw(out, m->salt_len);
	if (derive_subkey(m, k->master, out, subkey) < 0 || udp_cipher_init(&c, m, subkey) < 0 ||
	    cipher_seal(&c, zero_nonce, NULL, 0, in, len, out + m->salt_len,
			out + m->salt_len + len) < 0)
		goto out;
	*outlen = m->salt_len + len + AEAD_TAG_LEN;
	rc = 0;
out:
	udp_cipher_fini(&c);
	sodium_memzero(subkey, sizeof(subkey));
	return rc;
}

int aead_udp_open(const struct aead_key *k, const uint8_t *in, size_t len, uint8_t *out,
		  size_t *outlen)
{
	static const uint8_t zero_nonce[AEAD_NONCE_MAX];
	const struct aead_method *m = k->m;
	uint8_t subkey[AEAD_KEY_MAX];
	struct aead_cipher c;
	size_t n;
	int rc;

	*outlen = 0;
	if (len < (size_t)m->salt_len + AEAD_TAG_LEN)
		return AEAD_ERR_FRAME;
	n = len - m->salt_len - AEAD_TAG_LEN;
	if (derive_subkey(m, k->master, in, subkey) < 0 || udp_cipher_init(&c, m, subkey) < 0)
		rc = AEAD_ERR_INTERNAL;
	else
		rc = cipher_open(&c, zero_nonce, NULL, 0, in + m->salt_len, n,
				 in + m->salt_len + n, out);
	udp_cipher_fini(&c);
	sodium_memzero(subkey, sizeof(subkey));
	if (rc < 0)
		return rc;
	*outlen = n;
	return AEAD_OK;
}

const char *aead_strerror(int rc)
{
	switch (rc) {
	case AEAD_OK:
		return "ok";
	case AEAD_NEED_MORE:
		return "incomplete chunk";
	case AEAD_ERR_AUTH:
		return "authentication failed (wrong password or method?)";
	case AEAD_ERR_FRAME:
		return "malformed data (chunk length over 0x3FFF, or packet too short)";
	case AEAD_ERR_NOMEM:
		return "out of memory";
	case AEAD_ERR_INTERNAL:
		return "crypto library failure";
	}
	return "unknown error";
}
