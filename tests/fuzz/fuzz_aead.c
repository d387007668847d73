/* fuzz_aead.c -- libFuzzer target for the shadowsocks AEAD codec (proxy/aead.c).
 * The first byte picks the method (low 3 bits), the mode (bit 3) and the chunking seed (rest):
 *   mode 0: the other bytes are ciphertext, fed to aead_stream_decrypt in pieces, then opened
 *           as one UDP packet;
 *   mode 1: the other bytes are plaintext, encrypted in pieces, one byte of the result flipped
 *           (chosen by the input), and decrypted in pieces: the output must be a prefix of the
 *           plaintext, and all of it when nothing was flipped.
 * Every output buffer is exactly as large as the contract requires, so ASan sees overruns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/aead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct aead_key *keys[8];
static size_t n_keys;

static void keys_init(void)
{
	const struct aead_method *m;

	if (n_keys)
		return;
	while (n_keys < 8 && (m = aead_method_at(n_keys)) != NULL) {
		keys[n_keys] = aead_key_new(m, "fuzz password");
		if (!keys[n_keys])
			abort();
		n_keys++;
	}
}

static uint32_t next_piece(uint32_t *seed, size_t left)
{
	uint32_t r;

	*seed = *seed * 1103515245u + 12345u;
	r = *seed >> 8;
	/* mostly small pieces, sometimes a few KB, sometimes everything */
	switch (r & 3) {
	case 0:
		r = 1 + (r >> 2) % 8;
		break;
	case 1:
		r = 1 + (r >> 2) % 64;
		break;
	case 2:
		r = 1 + (r >> 2) % 5000;
		break;
	default:
		r = (uint32_t)(left > UINT32_MAX ? UINT32_MAX : left);
	}
	return r > left ? (uint32_t)left : r;
}

/* Feeds in to d in pieces; returns the last result, the plaintext appended to *out. */
static int decrypt_pieces(struct aead_stream *d, const uint8_t *in, size_t len, uint32_t seed,
			  uint8_t **out, size_t *outlen)
{
	size_t pos = 0;
	int rc = AEAD_NEED_MORE;

	*out = NULL;
	*outlen = 0;
	while (pos < len) {
		size_t take = next_piece(&seed, len - pos), n = 0;
		uint8_t *tmp = malloc(take + AEAD_CHUNK_MAX), *grown;

		if (!tmp)
			abort();
		rc = aead_stream_decrypt(d, in + pos, take, tmp, &n);
		if (n > take + AEAD_CHUNK_MAX || (rc < 0 && n != 0))
			__builtin_trap();
		if (rc < 0) {
			size_t n2 = 1;
			/* refused from now on */
			if (aead_stream_decrypt(d, in, take, tmp, &n2) != rc || n2 != 0)
				__builtin_trap();
			free(tmp);
			return rc;
		}
		if (rc != AEAD_OK && rc != AEAD_NEED_MORE)
			__builtin_trap();
		grown = realloc(*out, *outlen + n + 1);
		if (!grown)
			abort();
		*out = grown;
		memcpy(*out + *outlen, tmp, n);
		*outlen += n;
		free(tmp);
		pos += take;
	}
	return rc;
}

static void fuzz_decrypt(const struct aead_key *k, const uint8_t *data, size_t size, uint32_t seed)
{
	struct aead_stream *d = aead_stream_new(k, AEAD_DECRYPT);
	uint8_t *out, *udp;
	size_t outlen;

	if (!d)
		abort();
	decrypt_pieces(d, data, size, seed, &out, &outlen);
	if (outlen > size)
		__builtin_trap();
	free(out);
	aead_stream_free(d);

	udp = malloc(size + 1);
	if (!udp)
		abort();
	outlen = 1;
	int rc = aead_udp_open(k, data, size, udp, &outlen);
	if (rc == AEAD_OK ? outlen + aead_udp_overhead(aead_key_method(k)) != size : outlen != 0)
		__builtin_trap();
	free(udp);
}

static void fuzz_round_trip(const struct aead_key *k, const uint8_t *data, size_t size,
			    uint32_t seed)
{
	struct aead_stream *e = aead_stream_new(k, AEAD_ENCRYPT), *d = aead_stream_new(k, AEAD_DECRYPT);
	uint8_t *ct = NULL, *out;
	size_t ctlen = 0, pos = 0, outlen, flip;
	int rc;

	if (!e || !d)
		abort();
	do {
		size_t take = size ? next_piece(&seed, size - pos) : 0, n;
		size_t bound = aead_stream_encrypt_bound(take);
		uint8_t *tmp = malloc(bound), *grown;

		if (!tmp || aead_stream_encrypt(e, data + pos, take, tmp, &n) < 0 || n > bound)
			abort();
		grown = realloc(ct, ctlen + n);
		if (!grown)
			abort();
		ct = grown;
		memcpy(ct + ctlen, tmp, n);
		ctlen += n;
		free(tmp);
		pos += take;
	} while (pos < size);
	/* flip one byte chosen by the data (or none) */
	flip = size ? (data[0] | (size_t)data[size - 1] << 8) % (ctlen + 1) : ctlen;
	if (flip < ctlen)
		ct[flip] ^= (uint8_t)(1u << (size % 8));
	rc = decrypt_pieces(d, ct, ctlen, seed ^ 0x5a5a5a5au, &out, &outlen);
	if (outlen > size || (outlen && memcmp(out, data, outlen) != 0))
		__builtin_trap();
	if (flip == ctlen && (rc != AEAD_OK || outlen != size))
		__builtin_trap();
	if (flip < ctlen && rc != AEAD_ERR_AUTH)
		__builtin_trap();
	free(out);
	free(ct);
	aead_stream_free(e);
	aead_stream_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct aead_key *k;
	uint32_t seed;

	keys_init();
	if (size < 1)
		return 0;
	k = keys[(data[0] & 7) % n_keys];
	seed = data[0] >> 4;
	if (data[0] & 8)
		fuzz_round_trip(k, data + 1, size - 1, seed);
	else
		fuzz_decrypt(k, data + 1, size - 1, seed);
	return 0;
}
