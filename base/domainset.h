/* domainset.h -- a compact, immutable set of domain names with suffix matching, for block
 * lists of hundreds of thousands of names (rules.block-domain-files): "example.com" matches
 * example.com and every name below it, never notexample.com; case-insensitive; a trailing
 * dot is ignored. Names live lowercased in one arena, length-prefixed, and a sorted array of
 * 32-bit offsets indexes them: about (length + 5) bytes a name. A lookup binary-searches each
 * suffix of the asked name that starts at a label. Reference counted, so a reload can swap
 * sets while the old one is still in use. */
#ifndef SNET_BASE_DOMAINSET_H
#define SNET_BASE_DOMAINSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct domainset;

/* An empty set (one reference) being filled; NULL when out of memory. */
struct domainset *domainset_new(void);
void domainset_ref(struct domainset *s);
/* Drops a reference; the last one frees the set. NULL is ignored. */
void domainset_unref(struct domainset *s);

/* Adds one text name ("Example.COM", "example.com."). 0, -1 when the name is malformed
 * (empty label, label over 63 bytes, name over 253, a byte other than a letter, digit,
 * '-' or '_'), -2 when out of memory. Only before domainset_seal. */
int domainset_add(struct domainset *s, const char *name, size_t len);

/* Reads a block list into s. Each line, after removing a '#' comment and blanks, is empty,
 * one name (a plain domain list), or an address followed by names (hosts format, e.g.
 * "0.0.0.0 ads.example.com", "127.0.0.1 a.example b.example", ":: x.example"); in hosts
 * lines the local names (localhost, broadcasthost, ip6-*, ...) are skipped. Returns 0;
 * -1 when the file cannot be read (errno set); -2 on a bad line, with *line, *col (1-based)
 * and msg ("invalid domain name 'x'", ...) set; -3 when out of memory. */
int domainset_load_file(struct domainset *s, const char *path, size_t *line, size_t *col,
			char *msg, size_t msglen);

/* Sorts and removes duplicates; the set is read-only from here on. 0, or -1 out of memory. */
int domainset_seal(struct domainset *s);

/* Whether the wire-form name (length-prefixed labels, ending with the root), or a name it
 * lies below, is in the sealed set. */
bool domainset_match_wire(const struct domainset *s, const uint8_t *name, size_t len);
/* The same for a text name ("www.example.com", trailing dot allowed). */
bool domainset_match_text(const struct domainset *s, const char *name, size_t len);

/* Distinct names (after seal) and the bytes the set holds, for logs and the bench. */
size_t domainset_count(const struct domainset *s);
size_t domainset_bytes(const struct domainset *s);

#endif
