/* test_aead.c -- unit tests for the shadowsocks AEAD codec (proxy/aead.c): known answers for the
 * building blocks (EVP_BytesToKey, HKDF-SHA1 from RFC 5869, ChaCha20-Poly1305 from RFC 8439,
 * AES-GCM from McGrew-Viega, XChaCha20-Poly1305 from draft-irtf-cfrg-xchacha), streams and UDP
 * packets built independently (Python `cryptography`) and decoded here, and for every method a
 * stream round trip fed in random pieces, tampering, wrong keys, truncation and bad lengths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/aead.h"
#include "tests/unit/check.h"

/* Every expected value below was computed with Python 3: hashlib (MD5), an HKDF-SHA1 written
 * over hmac (checked against RFC 5869 test case 4 and cryptography's HKDF), and the
 * `cryptography` package (OpenSSL) for the AEADs; XChaCha20 through an HChaCha20 written in
 * Python (checked against the draft's HChaCha20 vector 2.2.1). The published tags (RFC 8439
 * 2.8.2, GCM test cases 2-4 and 14-16, XChaCha A.3.1) matched. */

static size_t unhex(const char *h, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (h[0] && h[1] && n < max) {
		unsigned v;
		if (sscanf(h, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

static bool hex_eq(const uint8_t *p, size_t n, const char *h)
{
	uint8_t want[512];
	size_t wn = unhex(h, want, sizeof(want));

	if (wn != n || memcmp(p, want, n) != 0) {
		printf("  (got ");
		for (size_t i = 0; i < n; i++)
			printf("%02x", p[i]);
		printf(")\n");
		return false;
	}
	return true;
}

/* xorshift64*: a seeded PRNG so failures repeat. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void rng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

static const char *const names[] = { "chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm",
				     "xchacha20-ietf-poly1305" };

static void test_method_table(void)
{
	const struct aead_method *m;
	bool seen[4] = { false };
	char err[512];
	size_t i;

	for (i = 0; (m = aead_method_at(i)) != NULL; i++) {
		size_t j;

		for (j = 0; j < 4; j++)
			if (strcmp(aead_method_name(m), names[j]) == 0)
				seen[j] = true;
		CHECK(aead_method_key_len(m) == (strcmp(aead_method_name(m), "aes-128-gcm") ? 32u : 16u));
		CHECK(aead_method_salt_len(m) == aead_method_key_len(m));
		CHECK(aead_method_nonce_len(m) ==
		      (strcmp(aead_method_name(m), "xchacha20-ietf-poly1305") ? 12u : 24u));
		CHECK(aead_method_key_len(m) <= AEAD_KEY_MAX && aead_method_salt_len(m) <= AEAD_SALT_MAX);
		CHECK(aead_udp_overhead(m) == aead_method_salt_len(m) + AEAD_TAG_LEN);
		CHECK(!strcmp(aead_method_backend(m), "libsodium") ||
		      !strcmp(aead_method_backend(m), "openssl"));
	}
	CHECK(i >= 4 && i <= 6);
	for (i = 0; i < 4; i++) {
		CHECK(seen[i]);
		m = aead_method_find(names[i], err, sizeof(err));
		CHECK(m != NULL && strcmp(aead_method_name(m), names[i]) == 0);
	}
}

static void test_method_find_rejects(void)
{
	static const char *const stream[] = { "aes-256-cfb", "aes-128-ctr", "rc4-md5", "chacha20-ietf",
					      "table", "camellia-256-cfb", "bf-cfb", "aes-256-cfb8" };
	char err[512];

	for (size_t i = 0; i < sizeof(stream) / sizeof(stream[0]); i++) {
		err[0] = '\0';
		CHECK(aead_method_find(stream[i], err, sizeof(err)) == NULL);
		CHECK(strstr(err, "stream cipher") != NULL && strstr(err, stream[i]) != NULL);
	}
	CHECK(aead_method_find("2022-blake3-aes-256-gcm", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "SIP022") != NULL);
	CHECK(aead_method_find("bogus", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "unknown method") != NULL);
	CHECK(aead_method_find("", err, sizeof(err)) == NULL);
	CHECK(aead_method_find("AES-256-GCM", err, sizeof(err)) == NULL);
	/* a short err buffer is not overrun */
	CHECK(aead_method_find("aes-256-cfb", err, 4) == NULL && strlen(err) == 3);
}

static void test_derive_master(void)
{
	uint8_t k[65];

	CHECK(aead_derive_master("password", k, 32) == 0);
	CHECK(hex_eq(k, 32, "5f4dcc3b5aa765d61d8327deb882cf992b95990a9151374abd8ff8c5a7a0fe08"));
	CHECK(aead_derive_master("password", k, 16) == 0);
	CHECK(hex_eq(k, 16, "5f4dcc3b5aa765d61d8327deb882cf99"));
	CHECK(aead_derive_master("foobar", k, 64) == 0);
	CHECK(hex_eq(k, 64, "3858f62230ac3c915f300c664312c63f568378529614d22ddb49237d2f60bfdf"
			    "0ebf5878e82af7da618ed56fc67d4ab7adff94c38fb4457ad49f7a4fae8edade"));
	memset(k, 0xee, sizeof(k));
	CHECK(aead_derive_master("foobar", k, 33) == 0);
	CHECK(hex_eq(k, 33, "3858f62230ac3c915f300c664312c63f568378529614d22ddb49237d2f60bfdf0e"));
	CHECK(k[33] == 0xee);
	CHECK(aead_derive_master("foobar", k, 65) == -1);
}

static void test_hkdf_rfc5869(void)
{
	uint8_t ikm[80], salt[80], info[80], okm[82];
	size_t i;

	/* test case 4 */
	memset(ikm, 0x0b, 11);
	for (i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	CHECK(aead_hkdf_sha1(ikm, 11, salt, 13, info, 10, okm, 42) == 0);
	CHECK(hex_eq(okm, 42, "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2"
			      "c22e422478d305f3f896"));
	/* test case 5: longer inputs and outputs */
	for (i = 0; i < 80; i++) {
		ikm[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x60 + i);
		info[i] = (uint8_t)(0xb0 + i);
	}
	CHECK(aead_hkdf_sha1(ikm, 80, salt, 80, info, 80, okm, 82) == 0);
	CHECK(hex_eq(okm, 82, "0bd770a74d1160f7c9f12cd5912a06ebff6adcae899d92191fe4305673ba2ffe"
			      "8fa3f1a4e5ad79f3f334b3b202b2173c486ea37ce3d397ed034c7f9dfeb15c5e"
			      "927336d0441f4c4300e2cff0d0900b52d3b4"));
	/* test case 6: zero-length salt and info */
	memset(ikm, 0x0b, 22);
	CHECK(aead_hkdf_sha1(ikm, 22, salt, 0, info, 0, okm, 42) == 0);
	CHECK(hex_eq(okm, 42, "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0"
			      "ea00033de03984d34918"));
	/* test case 7: no salt at all */
	memset(ikm, 0x0c, 22);
	CHECK(aead_hkdf_sha1(ikm, 22, NULL, 0, NULL, 0, okm, 42) == 0);
	CHECK(hex_eq(okm, 42, "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5"
			      "673a081d70cce7acfc48"));
}

static void test_ss_subkey(void)
{
	uint8_t master[32], salt[32], sub[32];

	for (size_t i = 0; i < 32; i++)
		salt[i] = (uint8_t)i;
	CHECK(aead_derive_master("password", master, 32) == 0);
	CHECK(aead_hkdf_sha1(master, 32, salt, 32, (const uint8_t *)"ss-subkey", 9, sub, 32) == 0);
	CHECK(hex_eq(sub, 32, "ee187aed3f87574907a39db98606f60a526114831288097cac66054b33a9464f"));
	CHECK(aead_derive_master("password", master, 16) == 0);
	CHECK(aead_hkdf_sha1(master, 16, salt, 16, (const uint8_t *)"ss-subkey", 9, sub, 16) == 0);
	CHECK(hex_eq(sub, 16, "ed2a618d9490d1701de885d82aa80616"));
}

static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				"only one tip for the future, sunscreen would be it.";

/* All implementations of a method name. */
static size_t methods_named(const char *name, const struct aead_method **out, size_t max)
{
	const struct aead_method *m;
	size_t n = 0;

	for (size_t i = 0; (m = aead_method_at(i)) != NULL && n < max; i++)
		if (strcmp(aead_method_name(m), name) == 0)
			out[n++] = m;
	return n;
}

/* Seals pt with key/nonce/ad (hex), compares with ct||tag (hex), opens it back, and checks
 * that a flipped bit anywhere in ciphertext, tag or ad fails. */
static bool one_shot(const struct aead_method *m, const char *key_hex, const char *nonce_hex,
		     const char *ad_hex, const uint8_t *pt, size_t len, const char *want_hex)
{
	uint8_t key[32], nonce[24], ad[64], ct[512], back[512];
	size_t adlen = unhex(ad_hex, ad, sizeof(ad));
	bool ok = true;

	unhex(key_hex, key, sizeof(key));
	unhex(nonce_hex, nonce, sizeof(nonce));
	if (len + AEAD_TAG_LEN > sizeof(ct))
		return false;
	ok &= aead_seal(m, key, nonce, adlen ? ad : NULL, adlen, pt, len, ct) == 0;
	ok &= hex_eq(ct, len + AEAD_TAG_LEN, want_hex);
	ok &= aead_open(m, key, nonce, adlen ? ad : NULL, adlen, ct, len + AEAD_TAG_LEN, back) == 0;
	ok &= len == 0 || memcmp(back, pt, len) == 0;
	for (size_t i = 0; i < len + AEAD_TAG_LEN; i += 7) {
		ct[i] ^= 0x01;
		ok &= aead_open(m, key, nonce, adlen ? ad : NULL, adlen, ct, len + AEAD_TAG_LEN, back) ==
		      -1;
		ct[i] ^= 0x01;
	}
	if (adlen) {
		ad[0] ^= 0x80;
		ok &= aead_open(m, key, nonce, ad, adlen, ct, len + AEAD_TAG_LEN, back) == -1;
		ad[0] ^= 0x80;
	}
	nonce[0] ^= 1;
	ok &= aead_open(m, key, nonce, adlen ? ad : NULL, adlen, ct, len + AEAD_TAG_LEN, back) == -1;
	ok &= aead_open(m, key, nonce, NULL, 0, ct, AEAD_TAG_LEN - 1, back) == -1;
	return ok;
}

static void test_chacha20_poly1305_rfc8439(void)
{
	const struct aead_method *m[3];
	size_t n = methods_named("chacha20-ietf-poly1305", m, 3);

	CHECK(n == 1 || n == 2); /* OpenSSL's, and libsodium's as the fallback */
	for (size_t i = 0; i < n; i++)
		CHECK(one_shot(m[i], "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
			       "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
			       (const uint8_t *)sunscreen, strlen(sunscreen),
			       "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
			       "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
			       "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
			       "3ff4def08e4b7a9de576d26586cec64b6116"
			       "1ae10b594f09e26a7e902ecbd0600691"));
}

static void test_xchacha20_poly1305(void)
{
	const struct aead_method *m[2];

	CHECK(methods_named("xchacha20-ietf-poly1305", m, 2) == 1);
	CHECK(one_shot(m[0], "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		       "404142434445464748494a4b4c4d4e4f5051525354555657", "50515253c0c1c2c3c4c5c6c7",
		       (const uint8_t *)sunscreen, strlen(sunscreen),
		       "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
		       "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
		       "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
		       "21f9664c97637da9768812f615c68b13b52e"
		       "c0875924c1c7987947deafd8780acf49"));
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 3/4 and 15/16. */
static const char gcm_p[] = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
			    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";

static void test_aes128_gcm(void)
{
	const struct aead_method *m[2];
	uint8_t zero[16] = { 0 }, p[64];
	size_t n = methods_named("aes-128-gcm", m, 2);

	CHECK(n == 1);
	unhex(gcm_p, p, sizeof(p));
	for (size_t i = 0; i < n; i++) {
		/* test case 2 */
		CHECK(one_shot(m[i], "00000000000000000000000000000000", "000000000000000000000000", "",
			       zero, 16, "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"));
		/* test case 3 */
		CHECK(one_shot(m[i], "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
			       p, 64,
			       "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
			       "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
			       "4d5c2af327cd64a62cf35abd2ba6fab4"));
		/* test case 4: additional data, 60-byte plaintext */
		CHECK(one_shot(m[i], "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
			       "feedfacedeadbeeffeedfacedeadbeefabaddad2", p, 60,
			       "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
			       "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
			       "5bc94fbc3221a5db94fae95ae7121a47"));
	}
}

static void test_aes256_gcm(void)
{
	static const char k15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
	const struct aead_method *m[3];
	uint8_t zero[16] = { 0 }, p[64];
	size_t n = methods_named("aes-256-gcm", m, 3);

	CHECK(n == 1 || n == 2); /* libsodium's only with AES-NI; OpenSSL's always */
	unhex(gcm_p, p, sizeof(p));
	for (size_t i = 0; i < n; i++) {
		/* test case 14 */
		CHECK(one_shot(m[i], "0000000000000000000000000000000000000000000000000000000000000000",
			       "000000000000000000000000", "", zero, 16,
			       "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"));
		/* test case 15 */
		CHECK(one_shot(m[i], k15, "cafebabefacedbaddecaf888", "", p, 64,
			       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
			       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
			       "b094dac5d93471bdec1a502270e3cc6c"));
		/* test case 16 */
		CHECK(one_shot(m[i], k15, "cafebabefacedbaddecaf888",
			       "feedfacedeadbeeffeedfacedeadbeefabaddad2", p, 60,
			       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
			       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
			       "76fc6ece0f4e1768cddf8853bb2d551b"));
	}
}

/* ---- whole streams and packets made by an independent implementation ---- */

struct ss_kat {
	const char *method;
	const char *stream;
	size_t stream_len;
	const char *udp;
	size_t udp_len;
	const char *badlen;
	size_t badlen_len;
};

/* Password "password". Generated with Python `cryptography`: salt, then each chunk as
 * seal(len BE16) seal(payload) with a little-endian nonce counter from 0; the UDP packet is
 * salt + seal(payload) with a zero nonce. */
static const struct ss_kat ss_kats[] = {
	{ "chacha20-ietf-poly1305",
	  /* stream: salt a0..; "hello, world" then "!" */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
	  "\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\x2c\x4c\x96\xbc\xb2\x95\x49\x9c\xd1\x1e\xdd\xfc\x6b\x58\xc3\xb0"
	  "\x9f\xd7\xe9\x50\xfb\xb9\xb7\x60\x01\xf2\x22\x8f\x09\xbb\xbc\xc1\x21\xea\x11\xfe\x3c\xe7\xdb\xa7"
	  "\xd2\xfa\xdc\xa6\xf1\x4c\x0e\x6e\x20\x4d\x32\x13\xdf\x59\x33\x1a\x41\x50\x6a\xd5\x7c\x09\x52\xd5"
	  "\x71\x41\xd7\xc2\x98\x79\x1a\xda\x53\x27\x56\x88\x7d\xa5\xef\x30\x45",
	  113,
	  /* udp: salt 10..; payload 01 c6 12 00 35 00 35 "dns?" */
	  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27"
	  "\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x76\x60\x1f\x08\x20\x14\x35\xd0\xe9\xcc\x1d\x2a\x67\x78\xe2\x79"
	  "\x58\xfa\x74\x84\xcf\x27\xac\xa7\xad\xdc\x62",
	  59,
	  /* salt a0..; a sealed length of 0x4000 */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
	  "\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\x6c\x40\xb0\x93\x73\x0f\xb1\xd7\xba\xbb\x82\x46\xee\x4b\x60\xdc"
	  "\xec\x75",
	  50 },
	{ "aes-256-gcm",
	  /* stream: salt a0..; "hello, world" then "!" */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
	  "\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xa9\xd7\xe7\x84\xc3\xb3\x28\xd1\xe4\xc4\xe1\xfe\x04\xe5\x05\xf1"
	  "\x04\xdc\xe2\x9e\xb9\xea\x2d\x62\xbc\x14\x25\x48\x1f\x83\x76\xd8\x82\x4d\x76\x08\x20\x68\x43\xa4"
	  "\xcd\xc2\x98\x23\x1f\xac\xe6\x0a\x28\x87\xae\x64\x76\xd3\x95\xc8\xae\x91\x8c\xfc\x04\x79\x8f\x13"
	  "\xd3\x5a\xda\x98\x23\xc2\xb5\x5b\xe4\x13\x23\x7a\x92\x73\x87\x09\xdf",
	  113,
	  /* udp: salt 10..; payload 01 c6 12 00 35 00 35 "dns?" */
	  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27"
	  "\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x23\x6f\x55\x00\x55\x80\x58\x7a\x8b\xb8\xd1\xed\xc3\x89\x8b\x8d"
	  "\x22\xe7\x4c\x4c\xea\x51\xb4\x51\x89\x1c\x96",
	  59,
	  /* salt a0..; a sealed length of 0x4000 */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
	  "\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xe9\xdb\x62\xce\x8f\x1a\x6e\xb8\x39\xfa\x02\xc8\xb0\x66\xbe\xfc"
	  "\x82\x74",
	  50 },
	{ "aes-128-gcm",
	  /* stream: salt a0..; "hello, world" then "!" */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xad\x81\xc9\xd2\xc1\xaa\x9e\x99"
	  "\x5a\xa4\xfc\x8b\xeb\x83\xc7\x5d\xed\x94\xd4\x87\x76\xf5\x13\xf4\x0f\xf7\x4e\x03\x30\x2d\x2b\xac"
	  "\xe0\x16\xb9\x6f\xfc\x98\x40\x78\xda\x3f\xc7\x47\x64\x9b\xe9\x25\xbf\xaf\x83\x4f\x19\xd2\xac\x95"
	  "\xe4\xe5\x85\x65\x34\xff\x85\xd1\x72\x1b\x1a\xd3\x7b\xf2\x99\x58\x07\x27\xdf\xd1\x6a\x10\x4f\x77"
	  "\x38",
	  97,
	  /* udp: salt 10..; payload 01 c6 12 00 35 00 35 "dns?" */
	  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\xc1\x58\xc4\xe4\x65\x19\xe4\x77"
	  "\xd4\x3b\xe6\x36\x37\x93\x90\xe8\x03\xa5\xc4\x7b\xb4\x72\xf6\x3d\x60\x08\x3f",
	  43,
	  /* salt a0..; a sealed length of 0x4000 */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xed\x8d\x95\xc0\x25\x6a\xdc\x64"
	  "\x18\xc1\x1b\x47\xe1\x87\xd2\x8f\xeb\x40",
	  34 },
	{ "xchacha20-ietf-poly1305",
	  /* stream: salt a0..; "hello, world" then "!" */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
	  "\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xdb\x72\x2e\xcf\xcc\xbf\xf5\x8b\x25\x04\x87\xa5\x9c\xbc\x4a\xe2"
	  "\x8a\xc2\x4c\xb8\x8b\xe4\x55\x92\x47\x3a\x83\x19\xa5\xb0\xd0\xd4\x97\xe0\xf6\x80\x5a\xfc\x2b\xad"
	  "\x72\xd1\x6b\x00\x44\x14\x67\xdb\x1e\x31\x4a\x8b\xa9\xf2\x88\x83\x49\x76\xd8\xa8\xe1\xbd\x2f\x9d"
	  "\x8d\x49\xe9\x7e\xf6\x6d\x18\x80\xc5\xde\x02\x31\xe6\xec\x76\x1b\xc9",
	  113,
	  /* udp: salt 10..; payload 01 c6 12 00 35 00 35 "dns?" */
	  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27"
	  "\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x27\x3d\xca\x32\x59\xb7\x6f\xbb\x72\xe2\xc5\xa2\xe0\x0a\xf3\xcb"
	  "\x5b\xdd\x71\x25\x39\xb8\x31\xf3\x22\x0e\x1e",
	  59,
	  /* salt a0..; a sealed length of 0x4000 */
	  "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
	  "\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\x9b\x7e\xcf\xb6\x39\xcc\x16\x6c\x53\x59\xda\x46\xd2\x6e\x4d\x30"
	  "\x70\x06",
	  50 },
};

static const struct ss_kat *kat_for(const struct aead_method *m)
{
	for (size_t i = 0; i < sizeof(ss_kats) / sizeof(ss_kats[0]); i++)
		if (strcmp(ss_kats[i].method, aead_method_name(m)) == 0)
			return &ss_kats[i];
	return NULL;
}

/* Decrypts all of in, n bytes per call (0: all at once), into a fresh buffer; returns the
 * last result and the plaintext length in *outlen. out must hold AEAD_CHUNK_MAX more than in. */
static int decrypt_pieces(struct aead_stream *d, const uint8_t *in, size_t len, size_t n,
			  uint8_t *out, size_t *outlen)
{
	size_t pos = 0, o = 0, got;
	int rc = AEAD_NEED_MORE;

	do {
		size_t take = n == 0 || n > len - pos ? len - pos : n;

		rc = aead_stream_decrypt(d, in + pos, take, out + o, &got);
		o += got;
		pos += take;
		if (rc < 0)
			break;
	} while (pos < len);
	*outlen = o;
	return rc;
}

static void test_stream_kat(void)
{
	static const uint8_t udp_payload[] = "\x01\xc6\x12\x00\x35\x00\x35" "dns?";
	const struct aead_method *m;
	uint8_t out[256 + AEAD_CHUNK_MAX];

	for (size_t i = 0; (m = aead_method_at(i)) != NULL; i++) {
		const struct ss_kat *t = kat_for(m);
		struct aead_key *k = aead_key_new(m, "password");
		size_t n, piece;
		int rc;

		CHECK(t != NULL && k != NULL);
		if (!t || !k) {
			aead_key_free(k);
			continue;
		}
		for (piece = 0; piece <= t->stream_len; piece += piece < 3 ? 1 : 17) {
			struct aead_stream *d = aead_stream_new(k, AEAD_DECRYPT);

			CHECK(d != NULL);
			rc = decrypt_pieces(d, (const uint8_t *)t->stream, t->stream_len, piece, out, &n);
			CHECK(rc == AEAD_OK);
			CHECK(n == 13 && memcmp(out, "hello, world!", 13) == 0);
			aead_stream_free(d);
		}
		CHECK(aead_udp_open(k, (const uint8_t *)t->udp, t->udp_len, out, &n) == AEAD_OK);
		CHECK(n == sizeof(udp_payload) - 1 && memcmp(out, udp_payload, n) == 0);

		/* a correctly sealed length of 0x4000 is a framing error, and final */
		{
			struct aead_stream *d = aead_stream_new(k, AEAD_DECRYPT);

			rc = decrypt_pieces(d, (const uint8_t *)t->badlen, t->badlen_len, 0, out, &n);
			CHECK(rc == AEAD_ERR_FRAME && n == 0);
			CHECK(aead_stream_decrypt(d, (const uint8_t *)t->stream, t->stream_len, out, &n) ==
			      AEAD_ERR_FRAME);
			CHECK(n == 0);
			aead_stream_free(d);
		}
		aead_key_free(k);
	}
}

/* Builds salt || seal(subkey, nonce 0, BE16 len) for m and password "password". */
static size_t craft_length(const struct aead_method *m, unsigned len, uint8_t *out)
{
	uint8_t master[AEAD_KEY_MAX], sub[AEAD_KEY_MAX], nonce[AEAD_NONCE_MAX] = { 0 };
	uint8_t lb[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	size_t kl = aead_method_key_len(m), sl = aead_method_salt_len(m);

	rng_fill(out, sl);
	if (aead_derive_master("password", master, kl) < 0 ||
	    aead_hkdf_sha1(master, kl, out, sl, (const uint8_t *)"ss-subkey", 9, sub, kl) < 0 ||
	    aead_seal(m, sub, nonce, NULL, 0, lb, 2, out + sl) < 0)
		return 0;
	return sl + 2 + AEAD_TAG_LEN;
}

static void test_stream_length_field(void)
{
	const struct aead_method *m;
	uint8_t in[AEAD_SALT_MAX + 2 + AEAD_TAG_LEN], out[sizeof(in) + AEAD_CHUNK_MAX];

	for (size_t i = 0; (m = aead_method_at(i)) != NULL; i++) {
		static const unsigned lens[] = { 0x4000, 0x8000, 0xffff };
		struct aead_key *k = aead_key_new(m, "password");
		struct aead_stream *d;
		size_t n, len;

		for (size_t j = 0; j < 3; j++) {
			d = aead_stream_new(k, AEAD_DECRYPT);
			len = craft_length(m, lens[j], in);
			CHECK(len > 0);
			CHECK(aead_stream_decrypt(d, in, len, out, &n) == AEAD_ERR_FRAME && n == 0);
			CHECK(aead_stream_decrypt(d, in, 1, out, &n) == AEAD_ERR_FRAME);
			aead_stream_free(d);
		}
		/* 0x3FFF is the largest allowed: the decoder then waits for the payload */
		d = aead_stream_new(k, AEAD_DECRYPT);
		len = craft_length(m, 0x3fff, in);
		CHECK(aead_stream_decrypt(d, in, len, out, &n) == AEAD_NEED_MORE && n == 0);
		aead_stream_free(d);
		aead_key_free(k);
	}
}

static void test_stream_truncated(void)
{
	const struct aead_method *m;
	uint8_t out[512 + AEAD_CHUNK_MAX];

	for (size_t i = 0; (m = aead_method_at(i)) != NULL; i++) {
		const struct ss_kat *t = kat_for(m);
		struct aead_key *k = aead_key_new(m, "password");
		size_t sl = aead_method_salt_len(m), first = sl + 18 + 12 + 16, n, cut;

		if (!t || !k) {
			CHECK(0);
			aead_key_free(k);
			continue;
		}
		/* every prefix: no output before a payload is complete, NEED_MORE unless at a chunk
		 * boundary (after the salt, after the first chunk, at the end) */
		for (cut = 0; cut <= t->stream_len; cut++) {
			struct aead_stream *d = aead_stream_new(k, AEAD_DECRYPT);
			int rc = aead_stream_decrypt(d, (const uint8_t *)t->stream, cut, out, &n);
			bool boundary = cut == sl || cut == first || cut == t->stream_len;

			CHECK(rc == (boundary ? AEAD_OK : AEAD_NEED_MORE));
			CHECK(n == (cut < first ? 0u : cut < t->stream_len ? 12u : 13u));
			/* the rest completes it */
			if (rc >= 0) {
				size_t n2;
				rc = aead_stream_decrypt(d, (const uint8_t *)t->stream + cut,
							 t->stream_len - cut, out + n, &n2);
				CHECK(rc == AEAD_OK && n + n2 == 13 && !memcmp(out, "hello, world!", 13));
			}
			aead_stream_free(d);
		}
		aead_key_free(k);
	}
}

/* Encrypts len random bytes in random-sized calls, checks the size, then decrypts in random
 * pieces (1 byte to several KB) into exact-size buffers so ASan sees any overrun. */
static bool round_trip(const struct aead_method *m, size_t len)
{
	struct aead_key *k = aead_key_new(m, "round trip");
	struct aead_stream *e = k ? aead_stream_new(k, AEAD_ENCRYPT) : NULL;
	struct aead_stream *d = k ? aead_stream_new(k, AEAD_DECRYPT) : NULL;
	uint8_t *pt = malloc(len + 1), *ct = malloc(1);
	uint8_t *back = malloc(len + 1);
	size_t ctlen = 0, pos = 0, o = 0, n, chunks = 0;
	bool ok = k && e && d && pt && ct && back;
	int rc = AEAD_NEED_MORE;

	aead_key_free(k); /* streams keep what they need */
	if (!ok)
		goto out;
	rng_fill(pt, len);
	/* encrypt: first call may be empty (salt only), then random slices */
	while (pos < len || ctlen == 0) {
		size_t take = rng() % 3 == 0 ? len - pos : (size_t)(rng() % 40000);
		size_t bound;
		uint8_t *tmp;

		if (take > len - pos)
			take = len - pos;
		bound = aead_stream_encrypt_bound(take);
		tmp = malloc(bound);
		ok &= tmp && aead_stream_encrypt(e, pt + pos, take, tmp, &n) == 0 && n <= bound;
		if (!ok) {
			free(tmp);
			goto out;
		}
		{
			uint8_t *grown = realloc(ct, ctlen + n + 1);
			if (!grown) {
				free(tmp);
				ok = false;
				goto out;
			}
			ct = grown;
		}
		memcpy(ct + ctlen, tmp, n);
		free(tmp);
		ctlen += n;
		pos += take;
		chunks += (take + AEAD_CHUNK_MAX - 1) / AEAD_CHUNK_MAX;
	}
	ok &= ctlen == aead_method_salt_len(m) + len + chunks * (2 + 2 * AEAD_TAG_LEN);
	/* decrypt */
	for (pos = 0; pos < ctlen || ctlen == 0;) {
		size_t r = rng(), take = r % 4 == 0 ? 1 + r % 16 : 1 + (r >> 8) % 6000;
		uint8_t *tmp;

		if (take > ctlen - pos)
			take = ctlen - pos;
		tmp = malloc(take + AEAD_CHUNK_MAX);
		if (!tmp) {
			ok = false;
			break;
		}
		rc = aead_stream_decrypt(d, ct + pos, take, tmp, &n);
		if (rc < 0 || o + n > len) {
			ok = false;
			free(tmp);
			break;
		}
		memcpy(back + o, tmp, n);
		free(tmp);
		o += n;
		pos += take;
		if (ctlen == 0)
			break;
	}
	ok &= rc == (ctlen ? AEAD_OK : AEAD_NEED_MORE) && o == len && memcmp(back, pt, len) == 0;
out:
	if (!ok)
		printf("  (%s/%s len %zu: rc %d, out %zu)\n", aead_method_name(m), aead_method_backend(m),
		       len, rc, o);
	aead_stream_free(e);
	aead_stream_free(d);
	free(pt);
	free(ct);
	free(back);
	return ok;
}

static void test_stream_round_trip(void)
{
	static const size_t sizes[] = { 0, 1, 0x3fff, 0x4000, 0x3fff * 2 + 1, 200000 };
	const struct aead_method *m;

	for (size_t i = 0; (m = aead_method_at(i)) != NULL; i++)
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++)
			for (int rep = 0; rep < 3; rep++)
				CHECK(round_trip(m, sizes[j]));
}

/* Encrypts len random bytes as one call; returns the ciphertext (caller frees). */
static uint8_t *encrypt_all(const struct aead_key *k, const uint8_t *pt, size_t len, size_t *ctlen)
{
	struct aead_stream *e = aead_stream_new(k, AEAD_ENCRYPT);
	uint8_t *ct = malloc(aead_stream_encrypt_bound(len));

	if (!e || !ct || aead_stream_encrypt(e, pt, len, ct, ctlen) < 0) {
		free(ct);
		ct = NULL;
	}
	aead_stream_free(e);
	return ct;
}

static void test_stream_tamper(void)
{
	const struct aead_method *m;
	uint8_t pt[20000], *out = malloc(sizeof(pt) + AEAD_CHUNK_MAX);

	rng_fill(pt, sizeof(pt));
	for (size_t i = 0; out && (m = aead_method_at(i)) != NULL; i++) {
		struct aead_key *k = aead_key_new(m, "tamper"), *wrong = aead_key_new(m, "tamper!");
		size_t ctlen = 0, n, sl = aead_method_salt_len(m);
		uint8_t *ct = encrypt_all(k, pt, sizeof(pt), &ctlen);
		/* salt, length field, length tag, first payload, its tag, second length,
		 * the last byte */
		size_t spots[] = { 0, sl, sl + 2, sl + 18, sl + 18 + 0x3fff, sl + 18 + 0x3fff + 16,
				   ctlen - 1 };

		CHECK(ct != NULL);
		if (!ct) {
			aead_key_free(k);
			aead_key_free(wrong);
			continue;
		}
		for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
			struct aead_stream *d = aead_stream_new(k, AEAD_DECRYPT);
			size_t total;
			int rc;

			ct[spots[s]] ^= 0x20;
			rc = decrypt_pieces(d, ct, ctlen, 1 + s * 997, out, &total);
			CHECK(rc == AEAD_ERR_AUTH);
			/* nothing at or after the altered chunk came out */
			CHECK(total < sizeof(pt) && (total == 0 || total == 0x3fff));
			CHECK(memcmp(out, pt, total) == 0);
			ct[spots[s]] ^= 0x20;
			/* refused from now on, even good data */
			CHECK(aead_stream_decrypt(d, ct, ctlen, out, &n) == AEAD_ERR_AUTH && n == 0);
			aead_stream_free(d);
		}
		/* the wrong password fails on the first length */
		{
			struct aead_stream *d = aead_stream_new(wrong, AEAD_DECRYPT);
			CHECK(aead_stream_decrypt(d, ct, ctlen, out, &n) == AEAD_ERR_AUTH && n == 0);
			aead_stream_free(d);
		}
		/* chunks swapped or replayed fail too: the nonce counts them */
		{
			struct aead_stream *d = aead_stream_new(k, AEAD_DECRYPT);
			size_t c1 = sl + 18 + 0x3fff + 16;

			CHECK(aead_stream_decrypt(d, ct, c1, out, &n) == AEAD_OK && n == 0x3fff);
			CHECK(aead_stream_decrypt(d, ct + sl, c1 - sl, out, &n) == AEAD_ERR_AUTH);
			aead_stream_free(d);
		}
		free(ct);
		aead_key_free(k);
		aead_key_free(wrong);
	}
	free(out);
}

static void test_stream_misuse(void)
{
	const struct aead_method *m = aead_method_at(0);
	struct aead_key *k = aead_key_new(m, "x");
	struct aead_stream *e = aead_stream_new(k, AEAD_ENCRYPT), *d = aead_stream_new(k, AEAD_DECRYPT);
	uint8_t buf[64 + AEAD_CHUNK_MAX], two[2] = { 1, 2 };
	size_t n = 99;

	CHECK(aead_key_new(m, "") == NULL);
	CHECK(aead_key_method(k) == m);
	CHECK(aead_stream_decrypt(e, two, 2, buf, &n) == AEAD_ERR_INTERNAL && n == 0);
	n = 99;
	CHECK(aead_stream_encrypt(d, two, 2, buf, &n) == -1 && n == 0);
	/* len 0 from the encoder writes the salt once, then nothing */
	CHECK(aead_stream_encrypt(e, NULL, 0, buf, &n) == 0 && n == aead_method_salt_len(m));
	CHECK(aead_stream_encrypt(e, NULL, 0, buf, &n) == 0 && n == 0);
	CHECK(aead_stream_encrypt(e, two, 2, buf, &n) == 0 && n == 2 + 2 + 2 * AEAD_TAG_LEN);
	/* the decoder with no input needs more */
	CHECK(aead_stream_decrypt(d, two, 0, buf, &n) == AEAD_NEED_MORE && n == 0);
	/* two encoders draw different salts */
	{
		struct aead_stream *e2 = aead_stream_new(k, AEAD_ENCRYPT);
		uint8_t s2[64];
		size_t n2;

		CHECK(aead_stream_encrypt(e2, NULL, 0, s2, &n2) == 0);
		aead_stream_encrypt(e2, NULL, 0, s2 + 32, &n);
		CHECK(n2 == aead_method_salt_len(m));
		aead_stream_free(e2);
		e2 = aead_stream_new(k, AEAD_ENCRYPT);
		CHECK(aead_stream_encrypt(e2, NULL, 0, buf, &n) == 0 && memcmp(buf, s2, n2) != 0);
		aead_stream_free(e2);
	}
	aead_stream_free(e);
	aead_stream_free(d);
	aead_stream_free(NULL);
	aead_key_free(k);
	aead_key_free(NULL);
	CHECK(strcmp(aead_strerror(AEAD_OK), "ok") == 0);
	CHECK(strstr(aead_strerror(AEAD_ERR_AUTH), "authentication") != NULL);
	CHECK(strstr(aead_strerror(AEAD_ERR_FRAME), "0x3FFF") != NULL);
	CHECK(strcmp(aead_strerror(12345), "unknown error") == 0);
}

static void test_udp(void)
{
	static const size_t sizes[] = { 0, 1, 100, 1500, 65507 };
	const struct aead_method *m;
	uint8_t *pt = malloc(65507), *pkt = malloc(65507 + 48), *out = malloc(65507 + 48);

	CHECK(pt && pkt && out);
	if (!pt || !pkt || !out)
		goto done;
	rng_fill(pt, 65507);
	for (size_t i = 0; (m = aead_method_at(i)) != NULL; i++) {
		struct aead_key *k = aead_key_new(m, "udp"), *wrong = aead_key_new(m, "UDP");
		size_t ov = aead_udp_overhead(m), n, plen;

		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			size_t len = sizes[j];

			CHECK(aead_udp_seal(k, pt, len, pkt, &plen) == 0 && plen == len + ov);
			CHECK(aead_udp_open(k, pkt, plen, out, &n) == AEAD_OK && n == len &&
			      memcmp(out, pt, len) == 0);
			CHECK(aead_udp_open(wrong, pkt, plen, out, &n) == AEAD_ERR_AUTH && n == 0);
			pkt[plen / 2] ^= 4;
			CHECK(aead_udp_open(k, pkt, plen, out, &n) == AEAD_ERR_AUTH);
			pkt[plen / 2] ^= 4;
			CHECK(aead_udp_open(k, pkt, plen - 1, out, &n) == AEAD_ERR_AUTH ||
			      plen - 1 < ov);
		}
		/* a fresh salt each time */
		{
			uint8_t a[64], b[64];
			size_t na = 0, nb = 0;
			CHECK(aead_udp_seal(k, pt, 8, a, &na) == 0 && aead_udp_seal(k, pt, 8, b, &nb) == 0);
			CHECK(na == nb && memcmp(a, b, na) != 0);
		}
		/* too short for salt + tag: a framing error, whatever the bytes */
		for (size_t len = 0; len < ov; len++) {
			n = 7;
			CHECK(aead_udp_open(k, pkt, len, out, &n) == AEAD_ERR_FRAME && n == 0);
		}
		/* exactly salt + tag of garbage: authentication fails */
		rng_fill(pkt, ov);
		CHECK(aead_udp_open(k, pkt, ov, out, &n) == AEAD_ERR_AUTH);
		aead_key_free(k);
		aead_key_free(wrong);
	}
done:
	free(pt);
	free(pkt);
	free(out);
}

int main(void)
{
	RUN(test_method_table);
	RUN(test_method_find_rejects);
	RUN(test_derive_master);
	RUN(test_hkdf_rfc5869);
	RUN(test_ss_subkey);
	RUN(test_chacha20_poly1305_rfc8439);
	RUN(test_xchacha20_poly1305);
	RUN(test_aes128_gcm);
	RUN(test_aes256_gcm);
	RUN(test_stream_kat);
	RUN(test_stream_length_field);
	RUN(test_stream_truncated);
	RUN(test_stream_round_trip);
	RUN(test_stream_tamper);
	RUN(test_stream_misuse);
	RUN(test_udp);
	CHECK_EXIT();
}
