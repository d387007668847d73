/* fuzz_sniff.c -- libFuzzer target for the first-bytes host sniffer (relay/sniff.c): the
 * whole input, and every prefix of it as the relay would see it arrive, must give OK (a
 * clean name), NEED_MORE or ERROR, never a read out of bounds; a prefix that is ERROR
 * never turns into OK with more bytes. */
#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "relay/sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[256];
	bool failed = false;

	if (size > SNIFF_MAX + 16)
		size = SNIFF_MAX + 16;
	for (size_t n = 0; n <= size; n += n < 64 ? 1 : 61) {
		enum sniff_result r = sniff_host(data, n, host, sizeof(host));

		if (r == SNIFF_OK) {
			size_t len = strlen(host);
			assert(len > 0 && len < sizeof(host));
			for (size_t i = 0; i < len; i++)
				assert(!(host[i] >= 'A' && host[i] <= 'Z') && host[i] != ':');
			assert(!failed);
		}
		if (r == SNIFF_ERROR)
			failed = true;
	}
	(void)sniff_host(data, size, host, sizeof(host));
	return 0;
}
