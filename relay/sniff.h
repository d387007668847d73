/* sniff.h -- the host name a client names in its first bytes: the TLS ClientHello's SNI or
 * the HTTP request's Host header. For the stats view only; nothing is routed by it. */
#ifndef SNET_RELAY_SNIFF_H
#define SNET_RELAY_SNIFF_H

#include <stddef.h>
#include <stdint.h>

/* No more than this many first bytes are ever looked at. */
#define SNIFF_MAX 16384

enum sniff_result { SNIFF_OK, SNIFF_NEED_MORE, SNIFF_ERROR };

/* Looks at the first len bytes the client sent (all of them from the start, not a later
 * piece). SNIFF_OK: host (lower case, NUL-terminated, no port) is set; SNIFF_NEED_MORE: the
 * bytes so far are a valid beginning; SNIFF_ERROR: neither protocol, malformed, or no name
 * in it (also when more than SNIFF_MAX bytes would be needed). */
enum sniff_result sniff_host(const uint8_t *data, size_t len, char *host, size_t hostlen);

#endif
