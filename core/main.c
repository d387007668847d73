/* main.c -- command line, start-up and shutdown order, signals (TERM/INT stop, HUP reloads). */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "log.h"
#include "relay.h"
#include "resolve.h"

struct app {
	struct ev_loop *loop;
	struct config cfg;
	struct resolver *resolver;
	struct relay *relay;
	const struct capture_ops *capture;
	void *cap; /* the capture's state */
	ev_signal sig_term, sig_int, sig_hup;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: snet-tun -c FILE [--check | --cleanup]\n"
		   "       snet-tun --version | --help\n\n"
		   "  -c, --config FILE  configuration (YAML); see config.yaml\n"
		   "      --check        validate FILE and exit (0 valid, 1 invalid)\n"
		   "      --cleanup      remove rules left behind by a killed instance\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         this text\n\n"
		   "Signals: TERM/INT stop and remove everything added; HUP reloads FILE.\n");
}

static void app_reload(struct app *a)
{
	struct config next;
	char err[1024];

	if (config_load(a->cfg.path, &next, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	if (next.mode != a->cfg.mode ||
	    memcmp(&next.redirect.listen, &a->cfg.redirect.listen, sizeof(next.redirect.listen)) ||
	    next.redirect.install_rules != a->cfg.redirect.install_rules ||
	    memcmp(&next.tun.address, &a->cfg.tun.address, sizeof(next.tun.address)) ||
	    strcmp(next.tun.name, a->cfg.tun.name) || next.tun.mtu != a->cfg.tun.mtu ||
	    next.tun.auto_route != a->cfg.tun.auto_route)
		log_warn("reload: mode, redirect.listen, redirect.install-rules and the tun "
			 "device settings take effect only after a restart");
	if (relay_reconfigure(a->relay, &next, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		config_free(&next);
		return;
	}
	/* Keep what cannot change without a restart. */
	next.mode = a->cfg.mode;
	next.redirect = a->cfg.redirect;
	memcpy(next.tun.name, a->cfg.tun.name, sizeof(next.tun.name));
	next.tun.address = a->cfg.tun.address;
	next.tun.has_address6 = a->cfg.tun.has_address6;
	next.tun.address6 = a->cfg.tun.address6;
	next.tun.mtu = a->cfg.tun.mtu;
	next.tun.auto_route = a->cfg.tun.auto_route;
	if (a->capture->reload(a->cap, &next, err, sizeof(err)) < 0) {
		/* The old rules are still in place: the swap is all or nothing. */
		log_error("reload: %s; the previous rules stay in force", err);
	}
	config_free(&a->cfg);
	a->cfg = next;
	log_set_level(a->cfg.log_level);
	log_info("reloaded %s", a->cfg.path);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct app *a = w->data;

	(void)revents;
	if (w->signum == SIGHUP) {
		app_reload(a);
		return;
	}
	log_info("%s: shutting down", strsignal(w->signum));
	ev_break(loop, EVBREAK_ALL);
}

static int app_run(struct app *a)
{
	char err[1024], where[512], upstream[CONFIG_HOST_MAX + 96];
	int rc = 1;

	a->loop = ev_default_loop(EVFLAG_AUTO);
	if (!a->loop) {
		log_error("cannot create the event loop");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&a->sig_term, on_signal, SIGTERM);
	ev_signal_init(&a->sig_int, on_signal, SIGINT);
	ev_signal_init(&a->sig_hup, on_signal, SIGHUP);
	a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
	ev_signal_start(a->loop, &a->sig_term);
	ev_signal_start(a->loop, &a->sig_int);
	ev_signal_start(a->loop, &a->sig_hup);

	a->resolver = resolver_new(a->loop);
	if (!a->resolver) {
		log_error("resolver: out of memory");
		goto out;
	}
	a->relay = relay_new(a->loop, a->resolver, &a->cfg, err, sizeof(err));
	if (!a->relay) {
		log_error("%s", err);
		goto out;
	}
	a->capture = capture_ops_for(&a->cfg);
	a->cap = a->capture->start(a->loop, a->relay, &a->cfg, err, sizeof(err));
	if (!a->cap) {
		log_error("%s", err);
		goto out;
	}
	if (a->cfg.dns.enable)
		log_warn("dns: the resolver is not available in this version; dns.enable is ignored");
	if (a->cfg.stats.enable)
		log_warn("stats: not available in this version; stats.listen is ignored");

	if (a->cfg.proxy.type == PROXY_TYPE_DIRECT)
		snprintf(upstream, sizeof(upstream), "direct");
	else
		snprintf(upstream, sizeof(upstream), "%s %s:%u%s%s",
			 proxy_ops_for(&a->cfg.proxy)->name, a->cfg.proxy.server, a->cfg.proxy.port,
			 a->cfg.proxy.type == PROXY_TYPE_SS ? " " : "",
			 a->cfg.proxy.type == PROXY_TYPE_SS ? a->cfg.proxy.method : "");
	log_info("ready: %s, proxy %s", a->capture->describe(a->cap, where, sizeof(where)),
		 upstream);
	ev_run(a->loop, 0);
	rc = 0;
out:
	/* Rules first: from here on, new connections must go straight out again. */
	if (a->cap && a->capture->stop_capture(a->cap, err, sizeof(err)) < 0) {
		log_error("%s", err);
		rc = 1;
	}
	relay_free(a->relay);
	if (a->cap)
		a->capture->free(a->cap);
	resolver_free(a->resolver);
	ev_signal_stop(a->loop, &a->sig_term);
	ev_signal_stop(a->loop, &a->sig_int);
	ev_signal_stop(a->loop, &a->sig_hup);
	ev_loop_destroy(a->loop);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'k' },
		{ "cleanup", no_argument, NULL, 'x' },      { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool check = false, cleanup = false;
	struct app a;
	char err[1024];
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'x': cleanup = true; break;
		case 'V': printf("snet-tun %s\n", SNET_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc || (check && cleanup)) {
		usage(stderr);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	if (config_load(path, &a.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		config_free(&a.cfg);
		return 0;
	}
	log_set_level(a.cfg.log_level);
	if (cleanup) {
		const struct capture_ops *ops = capture_ops_for(&a.cfg);
		rc = ops->cleanup(&a.cfg, err, sizeof(err)) < 0 ? 1 : 0;
		if (rc)
			log_error("cleanup: %s", err);
		else
			log_info("cleanup: removed what mode %s may have left behind", ops->name);
		config_free(&a.cfg);
		return rc;
	}
	rc = app_run(&a);
	config_free(&a.cfg);
	return rc;
}
