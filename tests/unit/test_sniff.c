/* test_sniff.c -- relay/sniff.c: the SNI of a real ClientHello (captured from openssl
 * s_client, tests/unit/data/), fed whole and in pieces; HTTP Host headers; truncated,
 * garbage and malformed input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/sniff.h"
#include "tests/unit/check.h"

static uint8_t hello[4096];
static size_t hello_len;

static int load_hello(void)
{
	char path[4096];
	const char *src = getenv("SNET_SRC_DIR");
	FILE *f;

	if (src)
		snprintf(path, sizeof(path), "%s/tests/unit/data/clienthello_sni.bin", src);
	else /* next to this file */
		snprintf(path, sizeof(path), "%.*s/data/clienthello_sni.bin",
			 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
	f = fopen(path, "rb");
	if (!f) {
		printf("FAIL load: %s: cannot open\n", path);
		return -1;
	}
	hello_len = fread(hello, 1, sizeof(hello), f);
	fclose(f);
	return hello_len > 5 ? 0 : -1;
}

static enum sniff_result sniff(const void *p, size_t n, char *host)
{
	return sniff_host(p, n, host, 256);
}

static void tls_sni_whole(void)
{
	char host[256] = "";

	CHECK(sniff(hello, hello_len, host) == SNIFF_OK);
	CHECK(strcmp(host, "www.example.org") == 0);
}

static void tls_every_prefix_needs_more(void)
{
	char host[256];
	size_t bad = 0;

	for (size_t n = 0; n < hello_len; n++)
		if (sniff(hello, n, host) != SNIFF_NEED_MORE)
			bad++;
	CHECK(bad == 0);
}

static void tls_corrupted(void)
{
	uint8_t b[4096];
	char host[256];

	memcpy(b, hello, hello_len);
	b[5] = 0x02; /* a ServerHello, not a ClientHello */
	CHECK(sniff(b, hello_len, host) == SNIFF_ERROR);
	memcpy(b, hello, hello_len);
	b[1] = 0x09; /* not TLS 3.x */
	CHECK(sniff(b, hello_len, host) == SNIFF_ERROR);
	memcpy(b, hello, hello_len);
	b[8] = 0xff; /* handshake length beyond the record */
	CHECK(sniff(b, hello_len, host) == SNIFF_ERROR);
	/* every single byte flipped: any answer, no crash (ASan watches) */
	for (size_t i = 0; i < hello_len; i++) {
		memcpy(b, hello, hello_len);
		b[i] ^= 0xa5;
		(void)sniff(b, hello_len, host);
	}
}

static void http_host(void)
{
	char host[256] = "";
	const char *req = "GET /index.html HTTP/1.1\r\nUser-Agent: x\r\nhOsT:  Plain.Example:8080 \r\n"
			  "Accept: */*\r\n\r\n";

	CHECK(sniff(req, strlen(req), host) == SNIFF_OK);
	CHECK(strcmp(host, "plain.example") == 0);
	CHECK(sniff("POST / HTTP/1.0\r\nHost: a.b\r\n", 28, host) == SNIFF_OK);
	CHECK(strcmp(host, "a.b") == 0);
}

static void http_partial_and_bad(void)
{
	char host[256];
	const char *req = "GET / HTTP/1.1\r\nHost: a.example\r\n";
	size_t bad = 0;

	for (size_t n = 0; n < strlen(req) - 2; n++)
		if (sniff(req, n, host) != SNIFF_NEED_MORE)
			bad++;
	CHECK(bad == 0);
	CHECK(sniff("GET / HTTP/1.1\r\nAccept: x\r\n\r\n", 29, host) == SNIFF_ERROR); /* no Host */
	CHECK(sniff("GET / HTTP/1.1\r\nHost: a b\r\n", 27, host) == SNIFF_ERROR); /* not a name */
	CHECK(sniff("GET / HTTP/1.1\r\nHost: [::1]:80\r\n", 32, host) == SNIFF_ERROR);
	CHECK(sniff("GET /\r\n", 7, host) == SNIFF_ERROR); /* no version */
	CHECK(sniff("SSH-2.0-OpenSSH\r\n", 17, host) == SNIFF_ERROR);
	CHECK(sniff("G\x01", 2, host) == SNIFF_ERROR);
}

static void garbage(void)
{
	char host[256];
	uint8_t b[SNIFF_MAX + 10];

	CHECK(sniff("", 0, host) == SNIFF_NEED_MORE);
	CHECK(sniff("\x00\x01\x02", 3, host) == SNIFF_ERROR);
	CHECK(sniff("\x16", 1, host) == SNIFF_NEED_MORE);
	CHECK(sniff("\x16\x03\x01\x00\x00", 5, host) == SNIFF_ERROR); /* empty record */
	/* a header line that never ends: ERROR once SNIFF_MAX bytes are in */
	memset(b, 'a', sizeof(b));
	memcpy(b, "GET / HTTP/1.1\r\nX: ", 19);
	CHECK(sniff(b, SNIFF_MAX - 1, host) == SNIFF_NEED_MORE);
	CHECK(sniff(b, sizeof(b), host) == SNIFF_ERROR);
	/* a record longer than we would wait for */
	CHECK(sniff("\x16\x03\x01\x48\x00", 5, host) == SNIFF_ERROR);
}

int main(void)
{
	if (load_hello() < 0)
		return 1;
	RUN(tls_sni_whole);
	RUN(tls_every_prefix_needs_more);
	RUN(tls_corrupted);
	RUN(http_host);
	RUN(http_partial_and_bad);
	RUN(garbage);
	CHECK_EXIT();
}
