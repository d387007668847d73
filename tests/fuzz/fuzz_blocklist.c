/* fuzz_blocklist.c -- libFuzzer target for the block-list reader and set (base/domainset.c):
 * the input is a block-list file (hosts format or plain names, read through a memfd).
 * A load either succeeds or reports a line within the file and a column within that line;
 * after a successful load and seal, a plain first line's name matches, and so does any
 * subdomain of it; every line of the input is also asked as a text name and as a wire name
 * built from its bytes (bounded, never a crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/domainset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(x)                          \
	do {                               \
		if (!(x))                  \
			__builtin_trap();  \
	} while (0)

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size && data[size - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct domainset *s;
	char path[64], msg[160];
	size_t line = 0, col = 0;
	int fd, rc;

	if (size > 1 << 16)
		return 0;
	fd = memfd_create("blocklist", 0);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	s = domainset_new();
	ASSERT(s != NULL);
	rc = domainset_load_file(s, path, &line, &col, msg, sizeof(msg));
	close(fd);
	ASSERT(rc == 0 || rc == -2);
	if (rc == -2) {
		ASSERT(line >= 1 && line <= count_lines(data, size));
		ASSERT(col >= 1 && strlen(msg) > 0);
		domainset_unref(s);
		return 0;
	}
	ASSERT(domainset_seal(s) == 0);
	ASSERT(domainset_count(s) <= count_lines(data, size) * 128);
	/* A first line holding exactly one plain name (no comment, no blanks) is in the set. */
	{
		const uint8_t *nl = memchr(data, '\n', size);
		size_t len = nl ? (size_t)(nl - data) : size;
		int plain = len > 0 && len < 200;
		for (size_t i = 0; i < len && plain; i++)
			plain = (data[i] >= 'a' && data[i] <= 'z') || (data[i] >= '0' && data[i] <= '9') ||
				data[i] == '-' || data[i] == '.';
		/* "1.2.3.4" alone would be an address without a name: an error, not here. */
		if (plain && data[0] != '.' && !memmem(data, len, "..", 2) &&
		    !strchr("0123456789", data[len - 1])) {
			char sub[256];
			ASSERT(domainset_match_text(s, (const char *)data, len));
			snprintf(sub, sizeof(sub), "x.%.*s", (int)len, (const char *)data);
			ASSERT(domainset_match_text(s, sub, strlen(sub)));
		}
	}
	/* Each line asked as text, and its bytes as a wire name. */
	for (const uint8_t *p = data, *end = data + size; p < end;) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		(void)domainset_match_text(s, (const char *)p, len);
		(void)domainset_match_wire(s, p, len);
		p += len + 1;
	}
	domainset_unref(s);
	return 0;
}
