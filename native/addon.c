/* SPDX-License-Identifier: Apache-2.0 */
/* addon.c: module init, per-environment instance, handle tracking, errors, libbpf's log. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebpm_native.h"

#define MAX_PENDING_LOG 1024

/*
 * libbpf_set_print is process-wide, but environments are per thread. Each thread that
 * initialised the addon records its instance here; messages printed on any other thread
 * (none today: libbpf only runs inside calls from JS) are dropped.
 */
static __thread struct instance *tls_inst;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	struct instance *inst = tls_inst;
	char *text;
	size_t n;

	if (!inst || inst->tearing_down)
		return 0;
	/* Warnings are always kept: load errors report them even without a logger. */
	if ((int)level > inst->log_level && level != LIBBPF_WARN)
		return 0;
	if (inst->npending >= MAX_PENDING_LOG)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	if (inst->npending == inst->cap) {
		size_t cap = inst->cap ? inst->cap * 2 : 32;
		struct logmsg *p = realloc(inst->pending, cap * sizeof(*p));
		if (!p) {
			free(text);
			return 0;
		}
		inst->pending = p;
		inst->cap = cap;
	}
	inst->pending[inst->npending++] = (struct logmsg){ .level = level, .text = text };
	return 0;
}

static const char *level_name(int level)
{
	switch (level) {
	case LIBBPF_WARN:
		return "warn";
	case LIBBPF_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* Hands buffered libbpf messages to the JS logger; called on the env's own thread only. */
void flush_log(napi_env env, struct instance *inst)
{
	napi_value fn = NULL, global, argv[2];
	bool pending = false;

	if (inst->logger)
		napi_get_reference_value(env, inst->logger, &fn);
	for (size_t i = 0; i < inst->npending; i++) {
		struct logmsg *m = &inst->pending[i];
		if (fn && !pending && m->level <= inst->log_level) {
			napi_get_global(env, &global);
			napi_create_string_utf8(env, level_name(m->level), NAPI_AUTO_LENGTH, &argv[0]);
			napi_create_string_utf8(env, m->text, NAPI_AUTO_LENGTH, &argv[1]);
			napi_call_function(env, global, fn, 2, argv, NULL);
			napi_is_exception_pending(env, &pending);
		}
		free(m->text);
	}
	inst->npending = 0;
}

size_t log_mark(struct instance *inst)
{
	return inst->npending;
}

/* The warnings libbpf printed since `mark`, as an array of strings (for load errors). */
napi_value log_since(napi_env env, struct instance *inst, size_t mark)
{
	napi_value arr, s;
	uint32_t n = 0;

	napi_create_array(env, &arr);
	for (size_t i = mark; i < inst->npending; i++) {
		if (inst->pending[i].level != LIBBPF_WARN)
			continue;
		napi_create_string_utf8(env, inst->pending[i].text, NAPI_AUTO_LENGTH, &s);
		napi_set_element(env, arr, n++, s);
	}
	return arr;
}

struct instance *get_instance(napi_env env)
{
	struct instance *inst = NULL;
	napi_get_instance_data(env, (void **)&inst);
	return inst;
}

/* ---- resources ---- */

void res_track(struct instance *inst, struct res *r, enum res_kind kind, void (*release)(struct res *))
{
	r->kind = kind;
	r->open = true;
	r->inst = inst;
	r->release = release;
	r->prev = inst->live.prev;
	r->next = &inst->live;
	inst->live.prev->next = r;
	inst->live.prev = r;
}

void res_release(struct res *r)
{
	if (!r->open)
		return;
	r->open = false;
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->release(r);
}

/* A handle JS forgot: release it now; the struct itself is freed here and nowhere else. */
static void res_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	res_release(data);
	free(data);
}

napi_value res_wrap(napi_env env, struct res *r)
{
	napi_value v;
	if (napi_create_external(env, r, res_finalize, NULL, &v) != napi_ok) {
		res_release(r);
		free(r);
		return NULL;
	}
	return v;
}

static const char *kind_name(enum res_kind kind)
{
	switch (kind) {
	case RES_OBJECT:
		return "object";
	case RES_LINK:
		return "link";
	case RES_READER:
		return "reader";
	}
	return "handle";
}

struct res *res_unwrap(napi_env env, napi_value v, enum res_kind kind, bool allow_closed)
{
	napi_valuetype t;
	struct res *r = NULL;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
	    napi_get_value_external(env, v, (void **)&r) != napi_ok || !r || r->kind != kind) {
		throw_invalid(env, "expected a %s handle", kind_name(kind));
		return NULL;
	}
	if (!r->open && !allow_closed) {
		throw_errno(env, EBADF, "%s is closed", kind_name(kind));
		return NULL;
	}
	return r;
}

/* ---- errors ---- */

static void errno_code(int err, char *buf, size_t size)
{
	if (err == 524) /* kernel-internal ENOTSUPP leaks out of some bpf(2) paths */
		snprintf(buf, size, "ENOTSUPP");
	else
		uv_err_name_r(-err, buf, size);
	if (strncmp(buf, "Unknown", 7) == 0)
		snprintf(buf, size, "E%d", err);
}

/* An Error with `code` (EPERM…), `errno` (positive) and message "<context>: <strerror>". */
napi_value error_errno(napi_env env, int err, const char *msg)
{
	char code[48], *full = NULL;
	napi_value e, m, c;

	if (err < 0)
		err = -err;
	errno_code(err, code, sizeof(code));
	if (asprintf(&full, "%s: %s", msg, strerror(err)) < 0)
		full = NULL;
	napi_create_string_utf8(env, full ? full : msg, NAPI_AUTO_LENGTH, &m);
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
	napi_create_error(env, c, m, &e);
	set_num(env, e, "errno", err);
	free(full);
	return e;
}

napi_value throw_errno(napi_env env, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	napi_throw(env, error_errno(env, err, msg));
	return NULL;
}

napi_value throw_invalid(napi_env env, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	napi_value e, m, c;
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
	napi_create_string_utf8(env, "EINVAL", NAPI_AUTO_LENGTH, &c);
	napi_create_type_error(env, c, m, &e);
	set_num(env, e, "errno", EINVAL);
	napi_throw(env, e);
	return NULL;
}

/* ---- arguments and results ---- */

bool arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what)
{
	bool is_ta = false;
	napi_typedarray_type type;
	napi_value ab;
	size_t off;

	napi_is_typedarray(env, v, &is_ta);
	if (!is_ta || napi_get_typedarray_info(env, v, &type, len, (void **)data, &ab, &off) != napi_ok ||
	    type != napi_uint8_array) {
		throw_invalid(env, "%s must be a Uint8Array", what);
		return false;
	}
	return true;
}

bool arg_bytes_or_null(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what)
{
	napi_valuetype t;
	napi_typeof(env, v, &t);
	if (t == napi_null || t == napi_undefined) {
		*data = NULL;
		*len = 0;
		return true;
	}
	return arg_bytes(env, v, data, len, what);
}

char *arg_string(napi_env env, napi_value v, const char *what)
{
	size_t n;
	char *s;

	if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
		throw_invalid(env, "%s must be a string", what);
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		throw_errno(env, ENOMEM, "%s", what);
		return NULL;
	}
	napi_get_value_string_utf8(env, v, s, n + 1, &n);
	if (strlen(s) != n) {
		free(s);
		throw_invalid(env, "%s must not contain NUL", what);
		return NULL;
	}
	return s;
}

char *arg_string_or_null(napi_env env, napi_value v, const char *what, bool *ok)
{
	napi_valuetype t;
	napi_typeof(env, v, &t);
	*ok = true;
	if (t == napi_null || t == napi_undefined)
		return NULL;
	char *s = arg_string(env, v, what);
	*ok = s != NULL;
	return s;
}

bool arg_int(napi_env env, napi_value v, int64_t *out, const char *what)
{
	double d;
	/*
	 * Range first: converting NaN, an infinity or a double outside [-2^63, 2^63) to int64_t is
	 * undefined behaviour (C11 6.3.1.4), and a Wasm guest's u64 flags of 2^64-1 arrive here.
	 */
	if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= -0x1p63 && d < 0x1p63) || d != (double)(int64_t)d) {
		throw_invalid(env, "%s must be an integer from -2^63 to 2^63-1", what);
		return false;
	}
	*out = (int64_t)d;
	return true;
}

static bool get_prop(napi_env env, napi_value obj, const char *key, napi_value *out, bool required)
{
	bool has = false;
	napi_valuetype t;

	napi_has_named_property(env, obj, key, &has);
	if (has) {
		napi_get_named_property(env, obj, key, out);
		napi_typeof(env, *out, &t);
		has = t != napi_undefined && t != napi_null;
	}
	if (!has && required)
		throw_invalid(env, "missing %s", key);
	return has;
}

/* Returns false only when an exception is pending; *out stays NULL when absent. */
bool prop_string(napi_env env, napi_value obj, const char *key, char **out, bool required)
{
	napi_value v;
	*out = NULL;
	if (!get_prop(env, obj, key, &v, required))
		return !required;
	*out = arg_string(env, v, key);
	return *out != NULL;
}

bool prop_int(napi_env env, napi_value obj, const char *key, int64_t *out, bool required)
{
	napi_value v;
	if (!get_prop(env, obj, key, &v, required))
		return !required;
	return arg_int(env, v, out, key);
}

bool prop_bool(napi_env env, napi_value obj, const char *key, bool *out)
{
	napi_value v;
	*out = false;
	if (!get_prop(env, obj, key, &v, false))
		return true;
	if (napi_get_value_bool(env, v, out) != napi_ok) {
		throw_invalid(env, "%s must be a boolean", key);
		return false;
	}
	return true;
}

void set_str(napi_env env, napi_value obj, const char *key, const char *val)
{
	napi_value v;
	napi_create_string_utf8(env, val ? val : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, obj, key, v);
}

void set_num(napi_env env, napi_value obj, const char *key, double val)
{
	napi_value v;
	napi_create_double(env, val, &v);
	napi_set_named_property(env, obj, key, v);
}

void set_bool(napi_env env, napi_value obj, const char *key, bool val)
{
	napi_value v;
	napi_get_boolean(env, val, &v);
	napi_set_named_property(env, obj, key, v);
}

napi_value copy_bytes(napi_env env, const void *data, size_t len)
{
	napi_value ab, ta;
	void *dst;
	napi_create_arraybuffer(env, len, &dst, &ab);
	if (len)
		memcpy(dst, data, len);
	napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &ta);
	return ta;
}

/* ---- exported functions: one trampoline flushes the log after every call ---- */

static napi_value trampoline(napi_env env, napi_callback_info info)
{
	const struct export_def *def;
	napi_value argv[8], undef, result, exc = NULL;
	size_t argc = 8;
	bool pending = false;

	napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&def);
	napi_get_undefined(env, &undef);
	for (size_t i = argc; i < def->argc && i < 8; i++)
		argv[i] = undef;
	result = def->fn(env, def->argc, argv);
	napi_is_exception_pending(env, &pending);
	if (pending)
		napi_get_and_clear_last_exception(env, &exc);
	flush_log(env, get_instance(env));
	if (exc) {
		/* the call's own error wins over one thrown by the logger */
		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_value ignored;
			napi_get_and_clear_last_exception(env, &ignored);
		}
		napi_throw(env, exc);
		return NULL;
	}
	return result ? result : undef;
}

/* setLogger(fn | null, level: 0 warn, 1 info, 2 debug) */
static napi_value set_logger(napi_env env, size_t argc, napi_value *argv)
{
	struct instance *inst = get_instance(env);
	napi_valuetype t;
	int64_t level;

	(void)argc;
	napi_typeof(env, argv[0], &t);
	if (t != napi_function && t != napi_null && t != napi_undefined)
		return throw_invalid(env, "logger must be a function or null");
	if (!arg_int(env, argv[1], &level, "level"))
		return NULL;
	if (level < LIBBPF_WARN || level > LIBBPF_DEBUG)
		return throw_invalid(env, "level must be 0, 1 or 2");
	if (inst->logger) {
		napi_delete_reference(env, inst->logger);
		inst->logger = NULL;
	}
	if (t == napi_function)
		napi_create_reference(env, argv[0], 1, &inst->logger);
	inst->log_level = (int)level;
	return NULL;
}

static napi_value possible_cpus(napi_env env, size_t argc, napi_value *argv)
{
	napi_value v;
	int n = libbpf_num_possible_cpus();
	(void)argc;
	(void)argv;
	if (n < 0)
		return throw_errno(env, -n, "possible cpus");
	napi_create_int32(env, n, &v);
	return v;
}

#define VERSION_TEXT_(x) #x
#define VERSION_TEXT(x) VERSION_TEXT_(x)

/* The libbpf this addon was compiled against (its headers), for `ebpm version`. */
static napi_value libbpf_version(napi_env env, size_t argc, napi_value *argv)
{
	napi_value v;
	(void)argc;
	(void)argv;
	napi_create_string_utf8(env, VERSION_TEXT(LIBBPF_MAJOR_VERSION) "." VERSION_TEXT(LIBBPF_MINOR_VERSION), NAPI_AUTO_LENGTH, &v);
	return v;
}

static const struct export_def addon_exports[] = {
	{ "setLogger", set_logger, 2 },
	{ "possibleCpus", possible_cpus, 0 },
	{ "libbpfVersion", libbpf_version, 0 },
	{ NULL, NULL, 0 },
};

/* Releases every open handle, readers before links before objects (reverse of creation). */
static void teardown(napi_async_cleanup_hook_handle handle, void *arg)
{
	struct instance *inst = arg;
	static const enum res_kind order[] = { RES_READER, RES_LINK, RES_OBJECT };

	inst->tearing_down = true;
	inst->cleanup = handle;
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		struct res *r = inst->live.next;
		while (r != &inst->live) {
			struct res *next = r->next;
			if (r->kind == order[k])
				res_release(r);
			r = next;
		}
	}
	if (tls_inst == inst)
		tls_inst = NULL;
	if (inst->closing == 0) {
		inst->cleanup = NULL;
		napi_remove_async_cleanup_hook(handle);
	}
}

/* A uv handle finished closing; teardown waits for the last one before letting go. */
void inst_handle_closed(struct instance *inst)
{
	inst->closing--;
	if (inst->closing == 0 && inst->tearing_down && inst->cleanup) {
		napi_async_cleanup_hook_handle h = inst->cleanup;
		inst->cleanup = NULL;
		napi_remove_async_cleanup_hook(h);
	}
}

static void instance_finalize(napi_env env, void *data, void *hint)
{
	struct instance *inst = data;
	(void)env;
	(void)hint;
	for (size_t i = 0; i < inst->npending; i++)
		free(inst->pending[i].text);
	free(inst->pending);
	free(inst);
}

static void add_exports(napi_env env, napi_value exports, const struct export_def *defs)
{
	for (; defs->name; defs++) {
		napi_value fn;
		napi_create_function(env, defs->name, NAPI_AUTO_LENGTH, trampoline, (void *)defs, &fn);
		napi_set_named_property(env, exports, defs->name, fn);
	}
}

NAPI_MODULE_INIT()
{
	struct instance *inst = calloc(1, sizeof(*inst));
	napi_async_cleanup_hook_handle ignored;

	if (!inst) {
		napi_throw_error(env, "ENOMEM", "ebpm_native: out of memory");
		return NULL;
	}
	inst->env = env;
	inst->live.next = inst->live.prev = &inst->live;
	inst->log_level = LIBBPF_WARN;
	napi_set_instance_data(env, inst, instance_finalize, NULL);
	napi_add_async_cleanup_hook(env, teardown, inst, &ignored);
	tls_inst = inst;
	libbpf_set_print(print_fn);

	add_exports(env, exports, addon_exports);
	add_exports(env, exports, object_exports);
	add_exports(env, exports, attach_exports);
	add_exports(env, exports, map_exports);
	add_exports(env, exports, event_exports);
	add_exports(env, exports, guest_exports);
	return exports;
}
