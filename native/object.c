/* SPDX-License-Identifier: Apache-2.0 */
/* object.c: open an object from bytes, list and configure it, load it, close it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebpm_native.h"
#include "object.h"

/* Big enough for any verifier log worth reading; since 6.4 the kernel keeps the log's tail. */
#define VERIFIER_LOG_SIZE (4u << 20)

static void object_release(struct res *r)
{
	struct object *o = (struct object *)r;
	bpf_object__close(o->obj);
	o->obj = NULL;
	free(o->log_buf);
	o->log_buf = NULL;
}

struct object *object_arg(napi_env env, napi_value v)
{
	return (struct object *)res_unwrap(env, v, RES_OBJECT, false);
}

/* objectOpen(elf: Uint8Array, name: string, btfPath: string | null) → handle */
static napi_value object_open(napi_env env, size_t argc, napi_value *argv)
{
	struct instance *inst = get_instance(env);
	uint8_t *elf;
	size_t len;
	char *name = NULL, *btf = NULL;
	struct object *o = NULL;
	bool ok;
	napi_value result = NULL;

	(void)argc;
	if (!arg_bytes(env, argv[0], &elf, &len, "object bytes"))
		return NULL;
	name = arg_string(env, argv[1], "object name");
	if (!name)
		return NULL;
	btf = arg_string_or_null(env, argv[2], "btf path", &ok);
	if (!ok)
		goto out;
	o = calloc(1, sizeof(*o));
	if (o)
		o->log_buf = malloc(VERIFIER_LOG_SIZE);
	if (!o || !o->log_buf) {
		throw_errno(env, ENOMEM, "open %s", name);
		goto out;
	}
	o->log_buf[0] = '\0';
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name, .btf_custom_path = btf,
		    .kernel_log_buf = o->log_buf, .kernel_log_size = VERIFIER_LOG_SIZE);
	o->obj = bpf_object__open_mem(elf, len, &opts);
	if (!o->obj) {
		throw_errno(env, errno, "open %s", name);
		goto out;
	}
	res_track(inst, &o->r, RES_OBJECT, object_release);
	result = res_wrap(env, &o->r);
	o = NULL;
out:
	if (o) {
		free(o->log_buf);
		free(o);
	}
	free(name);
	free(btf);
	return result;
}

/* objectLoad(obj): on failure the error carries `log` (verifier) and `messages` (libbpf). */
static napi_value object_load(napi_env env, size_t argc, napi_value *argv)
{
	struct instance *inst = get_instance(env);
	struct object *o = object_arg(env, argv[0]);
	size_t mark;
	int err;

	(void)argc;
	if (!o)
		return NULL;
	if (o->loaded)
		return throw_errno(env, EBUSY, "load %s: already loaded", bpf_object__name(o->obj));
	mark = log_mark(inst);
	o->log_buf[0] = '\0';
	err = bpf_object__load(o->obj);
	o->loaded = true; /* libbpf allows one load attempt, failed or not */
	if (err) {
		char msg[256];
		napi_value e, log;
		snprintf(msg, sizeof(msg), "load %s", bpf_object__name(o->obj));
		e = error_errno(env, err, msg);
		o->log_buf[VERIFIER_LOG_SIZE - 1] = '\0';
		napi_create_string_utf8(env, o->log_buf, NAPI_AUTO_LENGTH, &log);
		napi_set_named_property(env, e, "log", log);
		napi_set_named_property(env, e, "messages", log_since(env, inst, mark));
		napi_throw(env, e);
		return NULL;
	}
	free(o->log_buf);
	o->log_buf = NULL;
	return NULL;
}

/* objectClose(obj): harmless when already closed. */
static napi_value object_close(napi_env env, size_t argc, napi_value *argv)
{
	struct res *r = res_unwrap(env, argv[0], RES_OBJECT, true);
	(void)argc;
	if (r)
		res_release(r);
	return NULL;
}

/* objectPrograms(obj) → [{ name, section, type, autoload, fd }] */
static napi_value object_programs(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_program *p;
	napi_value arr, item;
	uint32_t i = 0;

	(void)argc;
	if (!o)
		return NULL;
	napi_create_array(env, &arr);
	bpf_object__for_each_program(p, o->obj) {
		const char *type = libbpf_bpf_prog_type_str(bpf_program__type(p));
		int fd = bpf_program__fd(p);
		napi_create_object(env, &item);
		set_str(env, item, "name", bpf_program__name(p));
		set_str(env, item, "section", bpf_program__section_name(p));
		set_str(env, item, "type", type ? type : "unknown");
		set_bool(env, item, "autoload", bpf_program__autoload(p));
		set_num(env, item, "fd", fd < 0 ? -1 : fd);
		napi_set_element(env, arr, i++, item);
	}
	return arr;
}

/* objectMaps(obj) → [{ name, section, type, keySize, valueSize, maxEntries, fd }] */
static napi_value object_maps(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_map *m;
	napi_value arr, item;
	uint32_t i = 0;

	(void)argc;
	if (!o)
		return NULL;
	napi_create_array(env, &arr);
	bpf_object__for_each_map(m, o->obj) {
		const char *type = libbpf_bpf_map_type_str(bpf_map__type(m));
		const char *name = bpf_map__name(m);
		/* internal maps are named "<object prefix>.<section>"; object names have no dot */
		const char *dot = bpf_map__is_internal(m) ? strchr(name, '.') : NULL;
		int fd = bpf_map__fd(m);
		napi_create_object(env, &item);
		set_str(env, item, "name", name);
		set_str(env, item, "section", dot ? dot : ".maps");
		set_str(env, item, "type", type ? type : "unknown");
		set_num(env, item, "keySize", bpf_map__key_size(m));
		set_num(env, item, "valueSize", bpf_map__value_size(m));
		set_num(env, item, "maxEntries", bpf_map__max_entries(m));
		set_num(env, item, "fd", fd < 0 ? -1 : fd);
		napi_set_element(env, arr, i++, item);
	}
	return arr;
}

static struct bpf_map *internal_map(napi_env env, struct object *o, const char *section)
{
	/* libbpf matches a leading-dot name against an internal map's ELF section */
	struct bpf_map *m = section[0] == '.' ? bpf_object__find_map_by_name(o->obj, section) : NULL;
	if (!m || !bpf_map__is_internal(m)) {
		throw_errno(env, ENOENT, "section %s: no such global data section", section);
		return NULL;
	}
	return m;
}

/* objectGlobal(obj, section) → a copy of the section's initial bytes */
static napi_value object_global(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_map *m;
	const void *data;
	size_t size = 0;
	char *section;
	napi_value result = NULL;

	(void)argc;
	if (!o || !(section = arg_string(env, argv[1], "section")))
		return NULL;
	if ((m = internal_map(env, o, section))) {
		data = bpf_map__initial_value(m, &size);
		result = data ? copy_bytes(env, data, size) : throw_errno(env, ENODATA, "section %s", section);
	}
	free(section);
	return result;
}

/* objectSetGlobal(obj, section, bytes): whole-section image, before load only */
static napi_value object_set_global(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_map *m;
	uint8_t *bytes;
	size_t len, size = 0;
	char *section;
	int err;

	(void)argc;
	if (!o || !(section = arg_string(env, argv[1], "section")))
		return NULL;
	if (!arg_bytes(env, argv[2], &bytes, &len, "section bytes") || !(m = internal_map(env, o, section)))
		goto out;
	if (o->loaded) {
		throw_errno(env, EBUSY, "section %s: object already loaded", section);
		goto out;
	}
	bpf_map__initial_value(m, &size);
	if (len != size) {
		throw_errno(env, EINVAL, "section %s: has %zu bytes, got %zu", section, size, len);
		goto out;
	}
	err = bpf_map__set_initial_value(m, bytes, len);
	if (err)
		throw_errno(env, err, "section %s", section);
out:
	free(section);
	return NULL;
}

struct bpf_program *program_arg(napi_env env, struct object *o, napi_value v)
{
	char *name = arg_string(env, v, "program name");
	struct bpf_program *p;

	if (!name)
		return NULL;
	p = bpf_object__find_program_by_name(o->obj, name);
	if (!p)
		throw_errno(env, ENOENT, "program %s", name);
	free(name);
	return p;
}

/* programSetAutoload(obj, program, on): choose what loads, before load only */
static napi_value program_set_autoload(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_program *p;
	bool on;
	int err;

	(void)argc;
	if (!o || !(p = program_arg(env, o, argv[1])))
		return NULL;
	if (napi_get_value_bool(env, argv[2], &on) != napi_ok)
		return throw_invalid(env, "autoload must be a boolean");
	err = bpf_program__set_autoload(p, on);
	if (err)
		return throw_errno(env, err, "program %s: set autoload", bpf_program__name(p));
	return NULL;
}

/* objectSetMapSize(obj, map, maxEntries, valueSize): sizes user space sets before load (0: keep) */
static napi_value object_set_map_size(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_map *m;
	uint32_t max_entries, value_size;
	char *name;
	int err = 0;

	(void)argc;
	if (!o || !(name = arg_string(env, argv[1], "map name")))
		return NULL;
	if (napi_get_value_uint32(env, argv[2], &max_entries) != napi_ok || napi_get_value_uint32(env, argv[3], &value_size) != napi_ok) {
		throw_invalid(env, "sizes must be unsigned 32-bit integers");
		goto out;
	}
	if (o->loaded) {
		throw_errno(env, EBUSY, "map %s: object already loaded", name);
		goto out;
	}
	m = bpf_object__find_map_by_name(o->obj, name);
	if (!m) {
		throw_errno(env, ENOENT, "map %s", name);
		goto out;
	}
	if (max_entries)
		err = bpf_map__set_max_entries(m, max_entries);
	if (!err && value_size)
		err = bpf_map__set_value_size(m, value_size);
	if (err)
		throw_errno(env, err, "map %s: set size", name);
out:
	free(name);
	return NULL;
}

/*
 * vmlinuxBtfId(name, kind): the kernel BTF id libbpf attaches `kind` ("fentry" or "tp_btf") to:
 * the function `name`, or the typedef `btf_trace_<name>` of a tracepoint. Throws ENOENT or ESRCH
 * when kernel BTF has no such type.
 */
static napi_value vmlinux_btf_id(napi_env env, size_t argc, napi_value *argv)
{
	char *name = arg_string(env, argv[0], "name"), *kind = NULL;
	napi_value result = NULL;
	int id;

	(void)argc;
	if (!name || !(kind = arg_string(env, argv[1], "kind")))
		goto out;
	if (strcmp(kind, "fentry") != 0 && strcmp(kind, "tp_btf") != 0) {
		throw_invalid(env, "kind must be fentry or tp_btf");
		goto out;
	}
	id = libbpf_find_vmlinux_btf_id(name, kind[0] == 'f' ? BPF_TRACE_FENTRY : BPF_TRACE_RAW_TP);
	if (id < 0)
		throw_errno(env, -id, "kernel BTF: %s %s", kind, name);
	else
		napi_create_int32(env, id, &result);
out:
	free(name);
	free(kind);
	return result;
}

/*
 * probeFentry(btfId): whether fentry programs work here, as libbpf-tools' fentry_can_attach
 * asks, and the attach too: a program that returns 0 is loaded on the kernel function `btfId`
 * and attached for an instant. Throws the kernel's errno.
 */
static napi_value probe_fentry(napi_env env, size_t argc, napi_value *argv)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int64_t id;
	int fd, link;

	(void)argc;
	if (!arg_int(env, argv[0], &id, "btf id"))
		return NULL;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY, .attach_btf_id = (__u32)id);
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ebpm_probe", "GPL", insns, 2, &opts);
	if (fd < 0)
		return throw_errno(env, errno, "probe fentry: load");
	link = bpf_raw_tracepoint_open(NULL, fd);
	if (link < 0)
		throw_errno(env, errno, "probe fentry: attach");
	else
		close(link);
	close(fd);
	return NULL;
}

/* The uapi enum value libbpf names `name` (libbpf_bpf_*_type_str), or -1. */
static int prog_type_by_name(const char *name)
{
	for (int t = 0; libbpf_bpf_prog_type_str((enum bpf_prog_type)t); t++)
		if (strcmp(libbpf_bpf_prog_type_str((enum bpf_prog_type)t), name) == 0)
			return t;
	return -1;
}

static int map_type_by_name(const char *name)
{
	for (int t = 0; libbpf_bpf_map_type_str((enum bpf_map_type)t); t++)
		if (strcmp(libbpf_bpf_map_type_str((enum bpf_map_type)t), name) == 0)
			return t;
	return -1;
}

/*
 * probeKernel(kind, name, helperId): libbpf's feature probes, each loading a minimal program or
 * creating a minimal map. kind "prog" or "map" with libbpf's type name; kind "helper" with the
 * program type's name and the helper id. Returns true or false, or null when this libbpf does
 * not know the type or cannot tell (EOPNOTSUPP: libbpf has no probe for it).
 */
static napi_value probe_kernel(napi_env env, size_t argc, napi_value *argv)
{
	char *kind = NULL, *name = NULL;
	int64_t helper = 0;
	int t, r = -EOPNOTSUPP;
	napi_value result = NULL;

	(void)argc;
	if (!(kind = arg_string(env, argv[0], "kind")) || !(name = arg_string(env, argv[1], "type name")) ||
	    !arg_int(env, argv[2], &helper, "helper id"))
		goto out;
	if (strcmp(kind, "map") == 0) {
		if ((t = map_type_by_name(name)) >= 0)
			r = libbpf_probe_bpf_map_type((enum bpf_map_type)t, NULL);
	} else if ((t = prog_type_by_name(name)) >= 0) {
		r = strcmp(kind, "helper") == 0 ? libbpf_probe_bpf_helper((enum bpf_prog_type)t, (enum bpf_func_id)helper, NULL)
						 : libbpf_probe_bpf_prog_type((enum bpf_prog_type)t, NULL);
	}
	if (r < 0)
		napi_get_null(env, &result);
	else
		napi_get_boolean(env, r > 0, &result);
out:
	free(kind);
	free(name);
	return result;
}

const struct export_def object_exports[] = {
	{ "probeKernel", probe_kernel, 3 },
	{ "vmlinuxBtfId", vmlinux_btf_id, 2 },
	{ "probeFentry", probe_fentry, 1 },
	{ "objectOpen", object_open, 3 },
	{ "objectLoad", object_load, 1 },
	{ "objectClose", object_close, 1 },
	{ "objectPrograms", object_programs, 1 },
	{ "objectMaps", object_maps, 1 },
	{ "objectGlobal", object_global, 2 },
	{ "objectSetGlobal", object_set_global, 3 },
	{ "programSetAutoload", program_set_autoload, 3 },
	{ "objectSetMapSize", object_set_map_size, 4 },
	{ NULL, NULL, 0 },
};
