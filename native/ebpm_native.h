/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ebpm_native: a small N-API addon over the system libbpf (>= 1.0 semantics: functions
 * return -errno or NULL with errno set). Policy lives in TypeScript (src/kernel/loader.ts);
 * this code only owns kernel handles and reports errno faithfully.
 *
 * Every handle given to JavaScript is an external wrapping a `struct res`. Open resources sit
 * on their environment's list so that the environment's cleanup hook can release whatever JS
 * forgot; a GC finalizer releases a forgotten handle earlier. Release and free are separate:
 * release closes kernel objects (idempotent), free drops the struct (finalizer only).
 */
#ifndef EBPM_NATIVE_H
#define EBPM_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <node_api.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

enum res_kind { RES_OBJECT = 1, RES_LINK, RES_READER };

struct instance;

struct res {
	enum res_kind kind;
	bool open;
	struct instance *inst;
	struct res *prev, *next; /* on inst->live while open */
	void (*release)(struct res *r);
};

struct logmsg {
	int level; /* enum libbpf_print_level */
	char *text;
};

/* Per-environment state (main thread or one worker): context-aware addon. */
struct instance {
	napi_env env;
	struct res live; /* sentinel of the circular list of open resources */
	napi_ref logger; /* JS (level, message) => void, or NULL */
	int log_level;   /* forward messages at or below this libbpf level */
	struct logmsg *pending;
	size_t npending, cap;
	napi_async_cleanup_hook_handle cleanup;
	int closing; /* uv handles whose close callback is still due */
	bool tearing_down;
};

/* addon.c: resources, arguments, errors, log */
void res_track(struct instance *inst, struct res *r, enum res_kind kind, void (*release)(struct res *));
void res_release(struct res *r);
napi_value res_wrap(napi_env env, struct res *r);
struct res *res_unwrap(napi_env env, napi_value v, enum res_kind kind, bool allow_closed);
struct instance *get_instance(napi_env env);
void inst_handle_closed(struct instance *inst);

napi_value throw_errno(napi_env env, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
napi_value throw_invalid(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
napi_value error_errno(napi_env env, int err, const char *msg);

bool arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what);
bool arg_bytes_or_null(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what);
char *arg_string(napi_env env, napi_value v, const char *what); /* malloc'd */
char *arg_string_or_null(napi_env env, napi_value v, const char *what, bool *ok);
bool arg_int(napi_env env, napi_value v, int64_t *out, const char *what);
bool prop_string(napi_env env, napi_value obj, const char *key, char **out, bool required);
bool prop_int(napi_env env, napi_value obj, const char *key, int64_t *out, bool required);
bool prop_bool(napi_env env, napi_value obj, const char *key, bool *out);

void set_str(napi_env env, napi_value obj, const char *key, const char *val);
void set_num(napi_env env, napi_value obj, const char *key, double val);
void set_bool(napi_env env, napi_value obj, const char *key, bool val);
napi_value copy_bytes(napi_env env, const void *data, size_t len); /* Uint8Array */
size_t log_mark(struct instance *inst);
void flush_log(napi_env env, struct instance *inst);
napi_value log_since(napi_env env, struct instance *inst, size_t mark);

/* object.c, attach.c, maps.c, events.c: exported functions */
typedef napi_value (*impl_fn)(napi_env env, size_t argc, napi_value *argv);
struct export_def {
	const char *name;
	impl_fn fn;
	size_t argc;
};
extern const struct export_def object_exports[];
extern const struct export_def attach_exports[];
extern const struct export_def map_exports[];
extern const struct export_def event_exports[];
extern const struct export_def guest_exports[];

#endif
