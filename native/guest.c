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
 * programs. A deadline (`--duration`, guestDeadline) asks the guest to stop as a first signal
 * would, with SIGALRM in [2], and the same grace follows; it leaves the user a first signal of
 * their own. Only async-signal-safe calls are made in the handlers (atomics, alarm, setitimer,
 * sigaction, raise), and any thread may run them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
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
/* The timer is guestDeadline's; then, once a stop was asked, the grace's. */
static volatile sig_atomic_t deadline_armed, grace_armed;
/* A SIGINT or SIGTERM came: the next one ends the process. */
static volatile sig_atomic_t signalled;

static void die(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

/* Asks the guest to stop for `sig`, unless something asked before; then the grace runs. */
static void request_stop(int32_t *f, int sig)
{
	int32_t none = 0;

	__atomic_compare_exchange_n(&f[STOP_SIGNAL], &none, sig, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	none = 0;
	__atomic_compare_exchange_n(&f[STOP_REQUEST], &none, STOP_INTERRUPT, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	deadline_armed = 0;
	if (!grace_armed) {
		grace_armed = 1;
		alarm(grace);
	}
}

static void on_signal(int sig)
{
	static const char overdue[] = "ebpm: the Wasm program still runs after its stop's grace, making no call to ebpm: it ends with the process\n";
	int32_t *f = flag;
	int saved_errno = errno;

	if (!f)
		goto out;
	if (sig == SIGALRM) {
		if (deadline_armed) {
			request_stop(f, SIGALRM);
		} else if (!grace_armed) {
			/* Not ours (kill -ALRM): its default action, as without these handlers. */
			die(SIGALRM);
		} else if (__atomic_load_n(&f[STOP_AT], __ATOMIC_SEQ_CST) != AT_RETURNED) {
			/* Nothing to do if stderr is gone: the process ends all the same. */
			(void)!write(STDERR_FILENO, overdue, sizeof(overdue) - 1);
			die(__atomic_load_n(&f[STOP_SIGNAL], __ATOMIC_SEQ_CST));
		}
		goto out;
	}
	if (signalled) {
		die(sig);
		goto out;
	}
	signalled = 1;
	request_stop(f, sig);
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
	deadline_armed = grace_armed = signalled = 0;
	flag = data;
	/* Not SA_RESTART: a wait in epoll returns EINTR and looks at the flag at once. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaddset(&sa.sa_mask, caught[i]);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &sa, &saved[i]);
	return NULL;
}

/*
 * guestDeadline(ms): asks the guest to stop `ms` milliseconds from now, as a first signal does,
 * with SIGALRM as the signal, unless a stop was asked before. Between guestSignals and
 * guestSignalsEnd.
 */
static napi_value guest_deadline(napi_env env, size_t argc, napi_value *argv)
{
	int64_t ms;
	struct itimerval at = { 0 };

	(void)argc;
	if (!flag)
		return throw_errno(env, EINVAL, "guest deadline: the guest's signals are not taken");
	if (!arg_int(env, argv[0], &ms, "ms"))
		return NULL;
	if (ms < 1 || ms > INT32_MAX)
		return throw_invalid(env, "ms must be from 1 to 2^31-1");
	if (grace_armed)
		return NULL;
	at.it_value.tv_sec = ms / 1000;
	at.it_value.tv_usec = (ms % 1000) * 1000;
	deadline_armed = 1;
	setitimer(ITIMER_REAL, &at, NULL);
	return NULL;
}

/* guestSignalsEnd(): gives the signals back to whoever had them (Node); what came is in the flag. */
static napi_value guest_signals_end(napi_env env, size_t argc, napi_value *argv)
{
	sigset_t alrm, old;
	struct timespec now = { 0 };

	(void)env;
	(void)argc;
	(void)argv;
	if (!flag)
		return NULL;
	/* A SIGALRM of the timer stopped here must not reach Node's handler, whose action ends the process. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old);
	alarm(0);
	while (sigtimedwait(&alrm, NULL, &now) == SIGALRM)
		;
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &saved[i], NULL);
	flag = NULL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return NULL;
}

const struct export_def guest_exports[] = {
	{ "guestSignals", guest_signals, 2 },
	{ "guestDeadline", guest_deadline, 1 },
	{ "guestSignalsEnd", guest_signals_end, 0 },
	{ NULL, NULL, 0 },
};
