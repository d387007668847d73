/* msg_internal.h -- what the two halves of the DNS message codec share, and nothing
 * outside dns/ includes: the reader (msg.c) defines these, the writer (msg_write.c) uses
 * them too. */
#ifndef SNET_DNS_MSG_INTERNAL_H
#define SNET_DNS_MSG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A name has at most 127 labels; more pointer hops than that is an attack, not a name. */
#define NAME_MAX_HOPS 127

/* Indexed by enum dns_section, for error messages. */
extern const char *const dns_msg_section_names[3];

/* Writes "dns message: " and the formatted reason into err[errlen]; returns -1. */
int dns_msg_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* true when name[0..len) is one uncompressed wire-form name. */
bool dns_msg_name_valid(const uint8_t *name, size_t len);

#endif
