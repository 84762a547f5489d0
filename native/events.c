/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c: ring buffer (5.8+) and perf buffer consumers. Each wakeup drains everything
 * available into one batch, handed to JS as one ArrayBuffer of records:
 *   u32 length | u32 cpu (0xffffffff for ring buffers) | length bytes | zero pad to 8
 * so every record's data starts 8-byte aligned. Readiness comes from the event loop
 * (uv_poll_t on libbpf's epoll fd) or from a blocking poll for worker threads.
 *
 * The kernel wakes a reader for every record (perf: wakeup_events = 1; ring buffer: every
 * submit without BPF_RB_NO_WAKEUP), so a reader that keeps up pays one wakeup, one drain and
 * one JS call per event. The event loop consumer therefore switches modes as NAPI does for
 * network interrupts: idle, it waits for the kernel's wakeup, so a first event is delivered at
 * once; after a wakeup that found records it stops listening and drains on a BUSY_MS timer,
 * batching what arrives meanwhile, until a drain finds nothing. A drain that finds the ring a
 * quarter full goes back to wakeups, so a fast producer cannot overrun it between drains.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebpm_native.h"

#define DEFAULT_PERF_PAGES 64
/* Stop filling a ring buffer batch here; the rest is still readable at the next wakeup. */
#define BATCH_CAP (4u << 20)
#define STOP_BATCH (-E2BIG)
/*
 * Wakeups of both buffer kinds go through irq_work; on a tickless idle CPU without a
 * self-IPI (some VMs) that can wait for the next tick, seconds away. A cheap periodic drain
 * (no syscalls: it only reads the rings' positions) bounds the delay.
 */
#define FLUSH_MS 50
/* Drain period while records keep coming: adds at most this much latency to all but the first. */
#define BUSY_MS 4

/* The event-loop side of a started reader; freed when both handles have closed. */
struct loop_handles {
	uv_poll_t poll;
	uv_timer_t timer;
	struct reader *r; /* NULL once stopped */
	struct instance *inst;
	int open;
	bool busy; /* draining on the timer, not listening for wakeups */
};

struct reader {
	struct res r;
	struct ring_buffer *rb;
	struct perf_buffer *pb;
	int map_fd; /* our own dup: perf_buffer__free deletes entries through it */
	struct loop_handles *loop; /* set while consumed through the event loop */
	napi_ref cb;
	napi_async_context actx;
	uint8_t *buf; /* the batch being filled; NULL after one is handed to JS */
	size_t len, cap;
	size_t next_cap; /* the size of the last batch handed over: the next one starts there */
	size_t ring_size; /* bytes of one ring (per CPU for perf buffers) */
	uint32_t count;
	uint64_t lost;
	int error; /* ENOMEM while appending */
};

static int append(struct reader *r, uint32_t cpu, const void *data, size_t size)
{
	size_t need = 8 + ((size + 7) & ~(size_t)7);
	if (r->len + need > r->cap) {
		size_t cap = r->cap ? r->cap : r->next_cap > (64 << 10) ? r->next_cap : 64 << 10;
		while (cap < r->len + need)
			cap *= 2;
		uint8_t *p = realloc(r->buf, cap);
		if (!p) {
			r->error = ENOMEM;
			return -ENOMEM;
		}
		r->buf = p;
		r->cap = cap;
	}
	uint32_t hdr[2] = { htole32((uint32_t)size), htole32(cpu) };
	memcpy(r->buf + r->len, hdr, 8);
	memcpy(r->buf + r->len + 8, data, size);
	memset(r->buf + r->len + 8 + size, 0, need - 8 - size);
	r->len += need;
	r->count++;
	return 0;
}

static int ring_sample(void *ctx, void *data, size_t size)
{
	struct reader *r = ctx;
	int err = append(r, UINT32_MAX, data, size);
	if (err)
		return err;
	return r->len >= BATCH_CAP ? STOP_BATCH : 0;
}

static void perf_sample(void *ctx, int cpu, void *data, __u32 size)
{
	append(ctx, (uint32_t)cpu, data, size);
}

static void perf_lost(void *ctx, int cpu, __u64 cnt)
{
	struct reader *r = ctx;
	(void)cpu;
	r->lost += cnt;
}

static int epoll_fd(struct reader *r)
{
	return r->rb ? ring_buffer__epoll_fd(r->rb) : perf_buffer__epoll_fd(r->pb);
}

/* Turns a consume/poll result into 0 or -errno; an interrupted wait is not an error. */
static int settle(struct reader *r, int err)
{
	if (r->error) {
		err = -r->error;
		r->error = 0;
		return err;
	}
	if (err == STOP_BATCH || err == -EINTR || err >= 0)
		return 0;
	return err;
}

static void batch_free(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	free(data);
}

/*
 * { data: ArrayBuffer, count, lost }: the filled buffer itself, given to JS. Only where the
 * runtime refuses external buffers (napi_no_external_buffers_allowed) is it copied and kept.
 */
static napi_value take_batch(napi_env env, struct reader *r)
{
	napi_value o, ab;
	void *dst;

	napi_create_object(env, &o);
	if (r->len) {
		/* fit to the records (in place): V8 counts byteLength, and JS may keep batches */
		uint8_t *fit = realloc(r->buf, r->len);
		if (fit) {
			r->buf = fit;
			r->cap = r->len;
		}
	}
	if (r->len && napi_create_external_arraybuffer(env, r->buf, r->len, batch_free, NULL, &ab) == napi_ok) {
		r->next_cap = r->len;
		r->buf = NULL;
		r->cap = 0;
	} else {
		napi_create_arraybuffer(env, r->len, &dst, &ab);
		if (r->len)
			memcpy(dst, r->buf, r->len);
	}
	napi_set_named_property(env, o, "data", ab);
	set_num(env, o, "count", r->count);
	set_num(env, o, "lost", (double)r->lost);
	r->len = 0;
	r->count = 0;
	r->lost = 0;
	return o;
}

static void handle_closed(uv_handle_t *h)
{
	struct loop_handles *lh = h->data;
	struct instance *inst = lh->inst;
	if (--lh->open == 0)
		free(lh);
	inst_handle_closed(inst);
}

static void stop_polling(struct reader *r)
{
	napi_env env = r->r.inst->env;
	struct loop_handles *lh = r->loop;
	if (!lh)
		return;
	r->loop = NULL;
	lh->r = NULL;
	uv_poll_stop(&lh->poll);
	uv_timer_stop(&lh->timer);
	r->r.inst->closing += lh->open;
	uv_close((uv_handle_t *)&lh->poll, handle_closed);
	uv_close((uv_handle_t *)&lh->timer, handle_closed);
	napi_delete_reference(env, r->cb);
	napi_async_destroy(env, r->actx);
	r->cb = NULL;
}

static void reader_release(struct res *res)
{
	struct reader *r = (struct reader *)res;
	stop_polling(r);
	ring_buffer__free(r->rb);
	perf_buffer__free(r->pb);
	r->rb = NULL;
	r->pb = NULL;
	if (r->map_fd >= 0)
		close(r->map_fd);
	r->map_fd = -1;
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

static struct reader *reader_arg(napi_env env, napi_value v)
{
	return (struct reader *)res_unwrap(env, v, RES_READER, false);
}

/* readerOpen(mapFd, perfPages | null) → handle, for a ringbuf or perf_event_array map */
static napi_value reader_open(napi_env env, size_t argc, napi_value *argv)
{
	struct bpf_map_info info = {};
	uint32_t ilen = sizeof(info);
	int64_t fd, pages = DEFAULT_PERF_PAGES;
	napi_valuetype t;
	struct reader *r;

	(void)argc;
	if (!arg_int(env, argv[0], &fd, "map fd"))
		return NULL;
	napi_typeof(env, argv[1], &t);
	if (t != napi_null && t != napi_undefined && !arg_int(env, argv[1], &pages, "perf pages"))
		return NULL;
	if (fd < 0 || fd > INT32_MAX || bpf_obj_get_info_by_fd((int)fd, &info, &ilen))
		return throw_errno(env, fd < 0 || fd > INT32_MAX ? EBADF : errno, "events: map fd %lld", (long long)fd);
	if (info.type != BPF_MAP_TYPE_RINGBUF && info.type != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return throw_errno(env, EINVAL, "events: map %s is not a ring buffer or perf event array", info.name);
	if (pages < 1 || pages > (1 << 16) || (pages & (pages - 1)))
		return throw_invalid(env, "perf pages must be a power of two up to 65536");
	r = calloc(1, sizeof(*r));
	if (!r)
		return throw_errno(env, ENOMEM, "events: map %s", info.name);
	r->map_fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
	if (r->map_fd < 0) {
		free(r);
		return throw_errno(env, errno, "events: map %s", info.name);
	}
	if (info.type == BPF_MAP_TYPE_RINGBUF) {
		r->rb = ring_buffer__new(r->map_fd, ring_sample, r, NULL);
		r->ring_size = info.max_entries;
	} else {
		r->pb = perf_buffer__new(r->map_fd, (size_t)pages, perf_sample, perf_lost, r, NULL);
		r->ring_size = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
	}
	if (!r->rb && !r->pb) {
		int err = errno;
		close(r->map_fd);
		free(r);
		return throw_errno(env, err, "events: map %s", info.name);
	}
	res_track(get_instance(env), &r->r, RES_READER, reader_release);
	return res_wrap(env, &r->r);
}

/* Drains and calls JS; returns the bytes of records delivered. */
static size_t deliver(struct reader *r)
{
	napi_env env = r->r.inst->env;
	napi_handle_scope scope;
	napi_value cb, global, argv[2], exc;
	bool pending = false;
	size_t bytes;
	int err;

	err = settle(r, r->rb ? ring_buffer__consume(r->rb) : perf_buffer__consume(r->pb));
	if (!err && r->count == 0 && r->lost == 0)
		return 0;
	bytes = err ? 0 : r->len;
	napi_open_handle_scope(env, &scope);
	napi_get_global(env, &global);
	napi_get_reference_value(env, r->cb, &cb);
	if (err) {
		argv[0] = error_errno(env, err, "events: consume");
		napi_get_null(env, &argv[1]);
	} else {
		napi_get_null(env, &argv[0]);
		argv[1] = take_batch(env, r);
	}
	/* may close this reader; r stays allocated until its finalizer runs */
	napi_make_callback(env, r->actx, global, cb, 2, argv, NULL);
	/* EventReader gives a throwing callback's error to its consumer; what still escapes is uncaught */
	napi_is_exception_pending(env, &pending);
	if (pending) {
		napi_get_and_clear_last_exception(env, &exc);
		napi_fatal_exception(env, exc);
	}
	flush_log(env, r->r.inst);
	napi_close_handle_scope(env, scope);
	return bytes;
}

static void on_ready(uv_poll_t *h, int status, int events);
static void on_tick(uv_timer_t *h);

/*
 * Picks the mode for what follows a drain of `bytes`. Busy, the timer is the only active
 * handle, so it must keep the loop alive; idle, the poll does and the timer is the FLUSH_MS
 * safety net. A record that lands between the empty drain and the poll's re-arming may have
 * spent its wakeup already (perf_poll clears it), so one more drain follows after BUSY_MS.
 */
static void schedule(struct loop_handles *lh, size_t bytes)
{
	bool busy;

	if (!lh->r) /* the callback closed the reader */
		return;
	busy = bytes > 0 && bytes < lh->r->ring_size / 4;
	if (busy) {
		if (!lh->busy) {
			uv_poll_stop(&lh->poll);
			uv_ref((uv_handle_t *)&lh->timer);
			lh->busy = true;
		}
		uv_timer_start(&lh->timer, on_tick, BUSY_MS, 0);
	} else if (lh->busy) {
		lh->busy = false;
		uv_unref((uv_handle_t *)&lh->timer);
		uv_timer_start(&lh->timer, on_tick, BUSY_MS, FLUSH_MS);
		uv_poll_start(&lh->poll, UV_READABLE, on_ready);
	}
}

static void on_ready(uv_poll_t *h, int status, int events)
{
	struct loop_handles *lh = h->data;
	(void)status; /* an error status still leaves the buffers readable */
	(void)events;
	if (lh->r)
		schedule(lh, deliver(lh->r));
}

static void on_tick(uv_timer_t *h)
{
	struct loop_handles *lh = h->data;
	if (lh->r)
		schedule(lh, deliver(lh->r));
}

/* readerStart(reader, (error | null, batch | null) => void): one call per drain that found something */
static napi_value reader_start(napi_env env, size_t argc, napi_value *argv)
{
	struct reader *r = reader_arg(env, argv[0]);
	struct loop_handles *lh;
	uv_loop_t *loop;
	napi_valuetype t;
	napi_value name;
	int err;

	(void)argc;
	if (!r)
		return NULL;
	napi_typeof(env, argv[1], &t);
	if (t != napi_function)
		return throw_invalid(env, "callback must be a function");
	if (r->loop)
		return throw_errno(env, EBUSY, "events: reader already started");
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return throw_errno(env, EINVAL, "events: no event loop");
	lh = calloc(1, sizeof(*lh));
	if (!lh)
		return throw_errno(env, ENOMEM, "events: start");
	err = uv_poll_init(loop, &lh->poll, epoll_fd(r));
	if (err) {
		free(lh);
		return throw_errno(env, -err, "events: start");
	}
	uv_timer_init(loop, &lh->timer);
	lh->poll.data = lh->timer.data = lh;
	lh->r = r;
	lh->inst = r->r.inst;
	lh->open = 2;
	r->loop = lh;
	uv_unref((uv_handle_t *)&lh->timer); /* the poll alone keeps the loop alive */
	napi_create_reference(env, argv[1], 1, &r->cb);
	napi_create_string_utf8(env, "ebpm:events", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &r->actx);
	err = uv_poll_start(&lh->poll, UV_READABLE, on_ready);
	if (!err)
		err = uv_timer_start(&lh->timer, on_tick, FLUSH_MS, FLUSH_MS);
	if (err) {
		stop_polling(r);
		return throw_errno(env, -err, "events: start");
	}
	return NULL;
}

/* readerPoll(reader, timeoutMs) → batch: waits up to timeoutMs (-1: forever), then drains */
static napi_value reader_poll(napi_env env, size_t argc, napi_value *argv)
{
	struct reader *r = reader_arg(env, argv[0]);
	int64_t timeout;
	int err;

	(void)argc;
	if (!r || !arg_int(env, argv[1], &timeout, "timeout"))
		return NULL;
	if (r->loop)
		return throw_errno(env, EBUSY, "events: reader is consumed by the event loop");
	if (timeout < -1 || timeout > INT32_MAX)
		return throw_invalid(env, "timeout must be -1 or a number of milliseconds");
	err = settle(r, r->rb ? ring_buffer__poll(r->rb, (int)timeout) : perf_buffer__poll(r->pb, (int)timeout));
	/* poll only drains buffers epoll reported; a late wakeup must not hide records */
	if (!err)
		err = settle(r, r->rb ? ring_buffer__consume(r->rb) : perf_buffer__consume(r->pb));
	if (err)
		return throw_errno(env, err, "events: poll");
	return take_batch(env, r);
}

/*
 * readerFlush(reader) → batch: drains what the buffers hold now, without waiting, also while
 * the event loop consumes: a run's last read before it closes (as cilium/ebpf's Reader.Flush).
 */
static napi_value reader_flush(napi_env env, size_t argc, napi_value *argv)
{
	struct reader *r = reader_arg(env, argv[0]);
	int err;

	(void)argc;
	if (!r)
		return NULL;
	err = settle(r, r->rb ? ring_buffer__consume(r->rb) : perf_buffer__consume(r->pb));
	if (err)
		return throw_errno(env, err, "events: flush");
	return take_batch(env, r);
}

/* readerClose(reader): harmless when already closed. */
static napi_value reader_close(napi_env env, size_t argc, napi_value *argv)
{
	struct res *r = res_unwrap(env, argv[0], RES_READER, true);
	(void)argc;
	if (r)
		res_release(r);
	return NULL;
}

const struct export_def event_exports[] = {
	{ "readerOpen", reader_open, 2 },
	{ "readerStart", reader_start, 2 },
	{ "readerPoll", reader_poll, 2 },
	{ "readerFlush", reader_flush, 1 },
	{ "readerClose", reader_close, 1 },
	{ NULL, NULL, 0 },
};
