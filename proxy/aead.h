/* aead.h -- the shadowsocks AEAD codec (SIP004): methods, keys, the TCP chunk stream
 * and UDP packets.
 *
 * TCP, one stream per direction:  [salt][len(2, BE) + tag][payload + tag]...
 * UDP, one packet:                [salt][payload + tag]
 * subkey = HKDF-SHA1(master key, salt, "ss-subkey"); the TCP nonce is a little-endian
 * counter bumped after every seal/open, the UDP nonce is all zero.
 */
#ifndef SNET_AEAD_H
#define SNET_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_MAX 32
#define AEAD_SALT_MAX 32
#define AEAD_NONCE_MAX 24
#define AEAD_TAG_LEN 16
#define AEAD_CHUNK_MAX 0x3FFF /* largest payload of one TCP chunk */

/* Result of aead_stream_decrypt and aead_udp_open. */
enum {
	AEAD_OK = 0, /* at a chunk boundary: nothing is held back */
	AEAD_NEED_MORE = 1, /* all input taken; an incomplete salt/length/payload is held */
	AEAD_ERR_AUTH = -1, /* a tag did not verify: wrong key, or the bytes were altered */
	AEAD_ERR_FRAME = -2, /* length field over AEAD_CHUNK_MAX, or UDP packet too short */
	AEAD_ERR_NOMEM = -3,
	AEAD_ERR_INTERNAL = -4, /* the crypto library failed, or misuse (wrong direction) */
};

/* One cipher implementation; aes-256-gcm has two (libsodium, OpenSSL). */
struct aead_method;

/* The implementation used for `name`, or NULL with a message for the user in err
 * (unknown name, stream cipher, SIP022 method). */
const struct aead_method *aead_method_find(const char *name, char *err, size_t errlen);
/* Every usable implementation, i = 0, 1, ... until NULL (for tests and benchmarks). */
const struct aead_method *aead_method_at(size_t i);
const char *aead_method_name(const struct aead_method *m);
const char *aead_method_backend(const struct aead_method *m); /* "libsodium" / "openssl" */
size_t aead_method_key_len(const struct aead_method *m);
size_t aead_method_salt_len(const struct aead_method *m);
size_t aead_method_nonce_len(const struct aead_method *m);

/* Building blocks, exposed for known-answer tests. Each returns 0, or -1. */
/* EVP_BytesToKey(MD5, no salt, 1 round): MD5(pw) || MD5(prev || pw) ..., keylen <= 64. */
int aead_derive_master(const char *password, uint8_t *key, size_t keylen);
int aead_hkdf_sha1(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
		   const uint8_t *info, size_t infolen, uint8_t *okm, size_t okmlen);
/* One-shot AEAD with an explicit key and nonce: out gets len bytes then the tag. */
int aead_seal(const struct aead_method *m, const uint8_t *key, const uint8_t *nonce,
	      const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len, uint8_t *out);
/* in is ciphertext then tag (len >= AEAD_TAG_LEN); out gets len - AEAD_TAG_LEN bytes.
 * -1 on a bad tag. */
int aead_open(const struct aead_method *m, const uint8_t *key, const uint8_t *nonce,
	      const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len, uint8_t *out);

/* A method with the master key derived from a password (immutable once built). */
struct aead_key;

/* NULL when out of memory or the password is empty. */
struct aead_key *aead_key_new(const struct aead_method *m, const char *password);
/* Wipes and frees; NULL is fine. */
void aead_key_free(struct aead_key *k);
const struct aead_method *aead_key_method(const struct aead_key *k);

/* One direction of a TCP stream. Holds a copy of what it needs from the key, so the
 * key may be freed first. */
struct aead_stream;
enum aead_dir { AEAD_ENCRYPT, AEAD_DECRYPT };

/* An encoder draws its salt now; a decoder waits for it. NULL when out of memory. */
struct aead_stream *aead_stream_new(const struct aead_key *k, enum aead_dir dir);
/* Wipes and frees; NULL is fine. */
void aead_stream_free(struct aead_stream *s);

/* Upper bound of aead_stream_encrypt's output for len bytes, for every method
 * (counts the salt even when it was sent already). */
size_t aead_stream_encrypt_bound(size_t len);
/* Seals in as chunks of at most AEAD_CHUNK_MAX into out (at least the bound of len);
 * the first call puts the salt first. len 0 writes nothing after the salt. 0 or -1. */
int aead_stream_encrypt(struct aead_stream *s, const uint8_t *in, size_t len, uint8_t *out,
			size_t *outlen);
/* Takes all of in, opening every chunk it completes into out, which must hold
 * len + AEAD_CHUNK_MAX bytes (a chunk begun in an earlier call may end in this one);
 * in and out must not overlap. Returns AEAD_OK, AEAD_NEED_MORE, or an AEAD_ERR_*
 * after which the stream refuses all further input. */
int aead_stream_decrypt(struct aead_stream *s, const uint8_t *in, size_t len, uint8_t *out,
			size_t *outlen);

/* UDP: a packet is salt + len + AEAD_TAG_LEN bytes; salt fresh per packet. in and out
 * must not overlap. Seal returns 0 or -1; open returns AEAD_OK or an AEAD_ERR_*. */
size_t aead_udp_overhead(const struct aead_method *m);
int aead_udp_seal(const struct aead_key *k, const uint8_t *in, size_t len, uint8_t *out,
		  size_t *outlen);
int aead_udp_open(const struct aead_key *k, const uint8_t *in, size_t len, uint8_t *out,
		  size_t *outlen);

/* A short description of an AEAD_ERR_* for messages. */
const char *aead_strerror(int rc);

#endif
