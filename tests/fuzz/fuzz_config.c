/* fuzz_config.c -- libFuzzer target: any bytes through config_load_buffer. A load either
 * succeeds (and is freed) or fails with exactly one non-empty "NAME:LINE:COL: message" line. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[1024];
	unsigned line, col;
	int used = -1;
	const char *colon;

	if (config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err)) == 0) {
		config_free(&cfg);
		return 0;
	}
	/* FILE is fuzz.yaml, or a cidr file it names (a bad line in it) */
	colon = strchr(err, ':');
	if (!colon || colon == err || strchr(err, '\n') ||
	    sscanf(colon, ":%u:%u: %n", &line, &col, &used) != 2 || used < 0 || !colon[used] ||
	    line == 0 || col == 0)
		__builtin_trap();
	return 0;
}
