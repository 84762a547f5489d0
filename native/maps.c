/* SPDX-License-Identifier: Apache-2.0 */
/*
 * maps.c: element operations by map fd. Sizes come from the kernel (BPF_OBJ_GET_INFO_BY_FD),
 * never from the caller, as the Wasm host passes guest buffers through here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ebpm_native.h"

struct map_sizes {
	struct bpf_map_info info;
	size_t key, value; /* value: the whole per-CPU array for per-CPU maps */
};

static bool is_percpu(uint32_t type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool map_sizes(napi_env env, napi_value v, int *fd, struct map_sizes *s)
{
	int64_t n;
	uint32_t len = sizeof(s->info);
	int err;

	if (!arg_int(env, v, &n, "map fd"))
		return false;
	if (n < 0 || n > INT32_MAX) {
		throw_errno(env, EBADF, "map fd %lld", (long long)n);
		return false;
	}
	*fd = (int)n;
	memset(&s->info, 0, sizeof(s->info));
	err = bpf_obj_get_info_by_fd(*fd, &s->info, &len);
	if (err) {
		throw_errno(env, errno, "map fd %d", *fd);
		return false;
	}
	s->key = s->info.key_size;
	s->value = s->info.value_size;
	if (is_percpu(s->info.type)) {
		/* the kernel copies one 8-byte-aligned slot per possible CPU (kernel/bpf/syscall.c) */
		int cpus = libbpf_num_possible_cpus();
		if (cpus < 0) {
			throw_errno(env, -cpus, "possible cpus");
			return false;
		}
		s->value = ((s->value + 7) & ~(size_t)7) * (size_t)cpus;
	}
	return true;
}

static bool check_size(napi_env env, const struct map_sizes *s, const char *what, size_t got, size_t want)
{
	if (got == want)
		return true;
	throw_errno(env, EINVAL, "map %s: %s has %zu bytes, map wants %zu", s->info.name, what, got, want);
	return false;
}

/* mapInfo(fd) → { name, type, keySize, valueSize, maxEntries, flags, valueBytes } */
static napi_value map_info(napi_env env, size_t argc, napi_value *argv)
{
	struct map_sizes s;
	napi_value o;
	int fd;
	const char *type;

	(void)argc;
	if (!map_sizes(env, argv[0], &fd, &s))
		return NULL;
	type = libbpf_bpf_map_type_str(s.info.type);
	napi_create_object(env, &o);
	set_str(env, o, "name", s.info.name);
	set_str(env, o, "type", type ? type : "unknown");
	set_num(env, o, "keySize", s.info.key_size);
	set_num(env, o, "valueSize", s.info.value_size);
	set_num(env, o, "maxEntries", s.info.max_entries);
	set_num(env, o, "flags", s.info.map_flags);
	set_num(env, o, "valueBytes", (double)s.value);
	return o;
}

/* mapLookup(fd, key, flags) → value bytes, or null when the key is absent */
static napi_value map_lookup(napi_env env, size_t argc, napi_value *argv)
{
	struct map_sizes s;
	uint8_t *key, *value;
	size_t klen;
	int64_t flags;
	int fd, err;
	napi_value result;

	(void)argc;
	if (!map_sizes(env, argv[0], &fd, &s) || !arg_bytes(env, argv[1], &key, &klen, "key") ||
	    !check_size(env, &s, "key", klen, s.key) || !arg_int(env, argv[2], &flags, "flags"))
		return NULL;
	value = malloc(s.value ? s.value : 1);
	if (!value)
		return throw_errno(env, ENOMEM, "map %s: lookup", s.info.name);
	err = bpf_map_lookup_elem_flags(fd, s.key ? key : NULL, value, (__u64)flags);
	if (err == -ENOENT)
		napi_get_null(env, &result);
	else if (err)
		result = throw_errno(env, err, "map %s: lookup", s.info.name);
	else
		result = copy_bytes(env, value, s.value);
	free(value);
	return result;
}

/* mapUpdate(fd, key, value, flags) */
static napi_value map_update(napi_env env, size_t argc, napi_value *argv)
{
	struct map_sizes s;
	uint8_t *key, *value;
	size_t klen, vlen;
	int64_t flags;
	int fd, err;

	(void)argc;
	if (!map_sizes(env, argv[0], &fd, &s) || !arg_bytes(env, argv[1], &key, &klen, "key") ||
	    !check_size(env, &s, "key", klen, s.key) || !arg_bytes(env, argv[2], &value, &vlen, "value") ||
	    !check_size(env, &s, "value", vlen, s.value) || !arg_int(env, argv[3], &flags, "flags"))
		return NULL;
	err = bpf_map_update_elem(fd, s.key ? key : NULL, value, (__u64)flags);
	if (err)
		return throw_errno(env, err, "map %s: update", s.info.name);
	return NULL;
}

/* mapDelete(fd, key, flags) → true when deleted, false when absent */
static napi_value map_delete(napi_env env, size_t argc, napi_value *argv)
{
	struct map_sizes s;
	uint8_t *key;
	size_t klen;
	int64_t flags;
	int fd, err;
	napi_value result;

	(void)argc;
	if (!map_sizes(env, argv[0], &fd, &s) || !arg_bytes(env, argv[1], &key, &klen, "key") ||
	    !check_size(env, &s, "key", klen, s.key) || !arg_int(env, argv[2], &flags, "flags"))
		return NULL;
	err = bpf_map_delete_elem_flags(fd, key, (__u64)flags);
	if (err && err != -ENOENT)
		return throw_errno(env, err, "map %s: delete", s.info.name);
	napi_get_boolean(env, err == 0, &result);
	return result;
}

/* mapNextKey(fd, key | null) → the next key (the first for null), or null at the end */
static napi_value map_next_key(napi_env env, size_t argc, napi_value *argv)
{
	struct map_sizes s;
	uint8_t *key, *next;
	size_t klen;
	int fd, err;
	napi_value result;

	(void)argc;
	if (!map_sizes(env, argv[0], &fd, &s) || !arg_bytes_or_null(env, argv[1], &key, &klen, "key"))
		return NULL;
	if (key && !check_size(env, &s, "key", klen, s.key))
		return NULL;
	next = malloc(s.key ? s.key : 1);
	if (!next)
		return throw_errno(env, ENOMEM, "map %s: next key", s.info.name);
	err = bpf_map_get_next_key(fd, key, next);
	if (err == -ENOENT)
		napi_get_null(env, &result);
	else if (err)
		result = throw_errno(env, err, "map %s: next key", s.info.name);
	else
		result = copy_bytes(env, next, s.key);
	free(next);
	return result;
}

/*
 * mapLookupBatch(fd, cursor | null, max) → { count, keys, values, cursor | null }
 * BPF_MAP_LOOKUP_BATCH (5.6+). The cursor is opaque: a u32 bucket for hash maps, a key for
 * arrays (kernel/bpf/hashtab.c, syscall.c generic_map_lookup_batch), so it gets max(key, 8)
 * bytes. A null cursor in the result means the map is exhausted.
 */
static napi_value map_lookup_batch(napi_env env, size_t argc, napi_value *argv)
{
	struct map_sizes s;
	uint8_t *in, *keys = NULL, *values = NULL, *out = NULL;
	size_t inlen, csize;
	int64_t max;
	uint32_t count;
	int fd, err;
	napi_value result = NULL, v;

	(void)argc;
	if (!map_sizes(env, argv[0], &fd, &s) || !arg_bytes_or_null(env, argv[1], &in, &inlen, "cursor") ||
	    !arg_int(env, argv[2], &max, "max"))
		return NULL;
	csize = s.key > 8 ? s.key : 8;
	if (in && !check_size(env, &s, "cursor", inlen, csize))
		return NULL;
	if (max < 1 || max > s.info.max_entries)
		return throw_invalid(env, "max must be between 1 and %u", s.info.max_entries);
	count = (uint32_t)max;
	keys = malloc((size_t)count * s.key);
	values = malloc((size_t)count * s.value);
	out = calloc(1, csize);
	if (!keys || !values || !out) {
		throw_errno(env, ENOMEM, "map %s: lookup batch", s.info.name);
		goto out;
	}
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	err = bpf_map_lookup_batch(fd, in, out, keys, values, &count, &opts);
	if (err && err != -ENOENT) {
		throw_errno(env, err, "map %s: lookup batch", s.info.name);
		goto out;
	}
	napi_create_object(env, &result);
	set_num(env, result, "count", count);
	napi_set_named_property(env, result, "keys", copy_bytes(env, keys, (size_t)count * s.key));
	napi_set_named_property(env, result, "values", copy_bytes(env, values, (size_t)count * s.value));
	if (err == -ENOENT)
		napi_get_null(env, &v);
	else
		v = copy_bytes(env, out, csize);
	napi_set_named_property(env, result, "cursor", v);
out:
	free(keys);
	free(values);
	free(out);
	return result;
}

const struct export_def map_exports[] = {
	{ "mapInfo", map_info, 1 },
	{ "mapLookup", map_lookup, 3 },
	{ "mapUpdate", map_update, 4 },
	{ "mapDelete", map_delete, 3 },
	{ "mapNextKey", map_next_key, 2 },
	{ "mapLookupBatch", map_lookup_batch, 3 },
	{ NULL, NULL, 0 },
};
