/* hash.c -- the keyed hash function behind every hash table (see hash.h). */
#include "base/hash.h"

#include <sodium.h>
#include <string.h>

bool hash_oom;

uint32_t hash_keyed(const void *key, size_t len)
{
	static unsigned char k[crypto_shorthash_KEYBYTES];
	static bool have_key;
	unsigned char out[crypto_shorthash_BYTES];
	uint32_t h;

	if (!have_key) {
		randombytes_buf(k, sizeof(k));
		have_key = true;
	}
	crypto_shorthash(out, key, len, k);
	memcpy(&h, out, sizeof(h));
	return h;
}
