/* names.h -- a set of domain suffixes (block-domains, bypass-domains): "example.com"
 * matches example.com and every name below it, never notexample.com. Case-insensitive.
 * Sorted lowercased wire-form names; a lookup tries each suffix of the name. */
#ifndef SNET_DNS_NAMES_H
#define SNET_DNS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str_list;
struct dns_names;

/* From text names ("example.com", "example.com."). NULL with err set (a malformed name,
 * out of memory). An empty list gives a set that matches nothing. */
struct dns_names *dns_names_new(const struct str_list *l, char *err, size_t errlen);
void dns_names_free(struct dns_names *s);
/* Whether the wire-form name, or a name it lies below, is in the set. */
bool dns_names_match(const struct dns_names *s, const uint8_t *name, size_t len);

#endif
