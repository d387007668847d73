/* top.h -- the `snet-tun top` subcommand: a terminal view of the live connections. */
#ifndef SNET_SERVICE_TOP_H
#define SNET_SERVICE_TOP_H

/* argv[0] is "top". Needs no privileges and none of the program's setup: it only reads
 * the config (for stats.listen) and polls the stats endpoint. Returns the exit status:
 * 0 after `q`, 1 on a start-up error, 2 on bad usage. */
int top_main(int argc, char **argv);

#endif
