/* SPDX-License-Identifier: Apache-2.0 */
/*
 * guest.c: SIGINT and SIGTERM while a Wasm guest runs on the main thread (src/runtime/inline.ts).
 *
 * The guest's imports block that thread, so Node's own signal handling (a pipe the event loop
 * reads) would see a signal only after the guest ended. While the guest runs, these handlers
 * take the signals instead and write them into the guest's stop flag, an Int32Array over a
 * SharedArrayBuffer that ebpm's waits look at: [0] the stop request, [1] where the guest's
 * thread is, [2] the signal. The first signal asks the guest to stop (its blocking calls return
 * EINTR, so its exit path runs); a second one, or a guest whose code still runs `grace` seconds
 * later, gets the signal's default action: the process ends, and the kernel detaches its
 * programs. Only async-signal-safe calls are made in the handlers (atomics, alarm, sigaction,
 * raise), and any thread may run them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "ebpm_native.h"

/* The stop flag's words and values, as src/runtime/protocol.ts defines them. */
enum { STOP_REQUEST, STOP_AT, STOP_SIGNAL };
#define STOP_INTERRUPT 2
#define AT_RETURNED 3

static const int caught[] = { SIGINT, SIGTERM, SIGALRM };
#define NCAUGHT (sizeof(caught) / sizeof(caught[0]))

static int32_t *volatile flag;
static struct sigaction saved[NCAUGHT];
static unsigned grace;

static void die(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static void on_signal(int sig)
{
	int32_t *f = flag;
	int32_t none = 0;
	int saved_errno = errno;

	if (!f)
		goto out;
	if (sig == SIGALRM) {
		if (__atomic_load_n(&f[STOP_AT], __ATOMIC_SEQ_CST) != AT_RETURNED)
			die(__atomic_load_n(&f[STOP_SIGNAL], __ATOMIC_SEQ_CST));
		goto out;
	}
	if (!__atomic_compare_exchange_n(&f[STOP_SIGNAL], &none, sig, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		die(sig);
		goto out;
	}
	none = 0;
	__atomic_compare_exchange_n(&f[STOP_REQUEST], &none, STOP_INTERRUPT, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	alarm(grace);
out:
	errno = saved_errno;
}

/* guestSignals(flag: Int32Array, graceSeconds): takes SIGINT and SIGTERM into `flag` until guestSignalsEnd. */
static napi_value guest_signals(napi_env env, size_t argc, napi_value *argv)
{
	napi_typedarray_type type;
	size_t length;
	void *data;
	int64_t seconds;
	struct sigaction sa = { .sa_handler = on_signal };

	(void)argc;
	if (flag)
		return throw_errno(env, EBUSY, "guest signals: already taken");
	if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array || length < 3)
		return throw_invalid(env, "flag must be an Int32Array of at least 3 words");
	if (!arg_int(env, argv[1], &seconds, "graceSeconds"))
		return NULL;
	if (seconds < 1 || seconds > 3600)
		return throw_invalid(env, "graceSeconds must be from 1 to 3600");
	grace = (unsigned)seconds;
	flag = data;
	/* Not SA_RESTART: a wait in epoll returns EINTR and looks at the flag at once. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaddset(&sa.sa_mask, caught[i]);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &sa, &saved[i]);
	return NULL;
}

/* guestSignalsEnd(): gives the signals back to whoever had them (Node); what came is in the flag. */
static napi_value guest_signals_end(napi_env env, size_t argc, napi_value *argv)
{
	(void)env;
	(void)argc;
	(void)argv;
	if (!flag)
		return NULL;
	alarm(0);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &saved[i], NULL);
	flag = NULL;
	return NULL;
}

const struct export_def guest_exports[] = {
	{ "guestSignals", guest_signals, 2 },
	{ "guestSignalsEnd", guest_signals_end, 0 },
	{ NULL, NULL, 0 },
};
