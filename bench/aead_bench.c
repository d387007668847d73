/* aead_bench.c -- the cipher's one-core ceiling: how fast one core seals and opens a
 * shadowsocks AEAD TCP stream (proxy/aead.h, the code snet-tun relays with), fed in
 * 16 KiB writes the way the relay hands data to the codec.
 *
 *   bench_aead [METHOD] [SECONDS]      (defaults: chacha20-ietf-poly1305, 2)
 *
 * Prints the seal rate, the open rate and the combined "seal+open" rate: bytes divided
 * by the time one core needs to both seal and open them. A proxied byte is sealed once
 * (by the client-side proxy on upload) and opened once (by ss-server), and on this
 * machine both run on the same shared cores, so that rate is the most one core can move
 * through the pair; the last line, "ceiling_gbps=X", is it in Gbit/s for bench/run.
 * It also times UDP packets (UDP_SIZE bytes, each with its own salt and subkey, so key
 * derivation and cipher setup dominate): udp_seal_us and udp_open_us per packet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/aead.h"

#define WRITE_SIZE (16 * 1024)
#define BATCH 64 /* writes per timed batch: 1 MiB */
#define UDP_SIZE 1200
#define UDP_COUNT 20000

/* This thread's CPU time: what one core spends, whatever else shares the machine. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "chacha20-ietf-poly1305";
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	char err[256];
	const struct aead_method *m = aead_method_find(name, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "bench_aead: %s\n", err);
		return 1;
	}
	if (seconds <= 0 || seconds > 600) {
		fprintf(stderr, "bench_aead: SECONDS must be in (0, 600]\n");
		return 2;
	}
	struct aead_key *key = aead_key_new(m, "bench-secret");
	struct aead_stream *enc = key ? aead_stream_new(key, AEAD_ENCRYPT) : NULL;
	struct aead_stream *dec = key ? aead_stream_new(key, AEAD_DECRYPT) : NULL;
	size_t bound = aead_stream_encrypt_bound(WRITE_SIZE);
	uint8_t *plain = malloc(WRITE_SIZE);
	uint8_t *sealed = malloc(bound * BATCH);
	size_t *sealed_len = malloc(sizeof(size_t) * BATCH);
	uint8_t *opened = malloc(bound + AEAD_CHUNK_MAX);
	if (!enc || !dec || !plain || !sealed || !sealed_len || !opened) {
		fprintf(stderr, "bench_aead: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < WRITE_SIZE; i++)
		plain[i] = (uint8_t)(i * 131 + 7);

	double t_seal = 0, t_open = 0;
	unsigned long long bytes = 0;
	double start = now();
	while (now() - start < seconds) {
		double t0 = now();
		for (int i = 0; i < BATCH; i++) {
			if (aead_stream_encrypt(enc, plain, WRITE_SIZE, sealed + bound * (size_t)i,
						&sealed_len[i]) != 0) {
				fprintf(stderr, "bench_aead: seal failed\n");
				return 1;
			}
		}
		double t1 = now();
		for (int i = 0; i < BATCH; i++) {
			size_t outlen = 0;
			int rc = aead_stream_decrypt(dec, sealed + bound * (size_t)i, sealed_len[i],
						     opened, &outlen);
			if (rc < 0 || outlen != WRITE_SIZE) {
				fprintf(stderr, "bench_aead: open failed: %s (%zu bytes)\n",
					aead_strerror(rc), outlen);
				return 1;
			}
		}
		double t2 = now();
		if (memcmp(opened, plain, WRITE_SIZE) != 0) {
			fprintf(stderr, "bench_aead: round trip mismatch\n");
			return 1;
		}
		t_seal += t1 - t0;
		t_open += t2 - t1;
		bytes += (unsigned long long)WRITE_SIZE * BATCH;
	}
	/* UDP: UDP_COUNT packets sealed, then opened again (the last one checked). */
	uint8_t udp_out[UDP_SIZE + 64], udp_back[UDP_SIZE + 64];
	size_t udp_len = 0, back_len = 0;
	double u0 = now();
	for (int i = 0; i < UDP_COUNT; i++)
		if (aead_udp_seal(key, plain, UDP_SIZE, udp_out, &udp_len) != 0) {
			fprintf(stderr, "bench_aead: UDP seal failed\n");
			return 1;
		}
	double u1 = now();
	for (int i = 0; i < UDP_COUNT; i++)
		if (aead_udp_open(key, udp_out, udp_len, udp_back, &back_len) != AEAD_OK) {
			fprintf(stderr, "bench_aead: UDP open failed\n");
			return 1;
		}
	double u2 = now();
	if (back_len != UDP_SIZE || memcmp(udp_back, plain, UDP_SIZE) != 0) {
		fprintf(stderr, "bench_aead: UDP round trip mismatch\n");
		return 1;
	}
	double udp_seal_us = (u1 - u0) * 1e6 / UDP_COUNT, udp_open_us = (u2 - u1) * 1e6 / UDP_COUNT;

	double seal_mbs = (double)bytes / t_seal / 1e6;
	double open_mbs = (double)bytes / t_open / 1e6;
	double both_mbs = (double)bytes / (t_seal + t_open) / 1e6;
	printf("%s (%s), %d-byte writes, %.0f MB through each side in %.1f s\n",
	       aead_method_name(m), aead_method_backend(m), WRITE_SIZE, (double)bytes / 1e6,
	       t_seal + t_open);
	printf("seal %.0f MB/s, open %.0f MB/s, seal+open %.0f MB/s on one core\n", seal_mbs,
	       open_mbs, both_mbs);
	printf("UDP, %d-byte packets: seal %.2f us, open %.2f us per packet\n", UDP_SIZE,
	       udp_seal_us, udp_open_us);
	printf("seal_mbs=%.1f open_mbs=%.1f sealopen_mbs=%.1f ceiling_gbps=%.3f udp_seal_us=%.2f "
	       "udp_open_us=%.2f\n",
	       seal_mbs, open_mbs, both_mbs, both_mbs * 8 / 1000, udp_seal_us, udp_open_us);
	aead_stream_free(enc);
	aead_stream_free(dec);
	aead_key_free(key);
	free(plain);
	free(sealed);
	free(sealed_len);
	free(opened);
	return 0;
}
