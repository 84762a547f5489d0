/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libbpf-wasm.h: the guest SDK for eBPF user space in WebAssembly (wasm32-wasi), over the
 * wasm-bpf host ABI that ebpm's runtime provides (import module "wasm_bpf", the same six
 * functions and signatures as eunomia-bpf/wasm-bpf, so guests built with it also run there).
 *
 * `ebpm build` compiles the package's BPF objects first and writes, for each `x.bpf.o`, two
 * headers in the build directory: `x.bpf.o.h` with the object's bytes as `unsigned char
 * x_bpf_o[]` and `unsigned int x_bpf_o_len` (`xxd -i` naming), and `x.skel.h`, a skeleton in
 * the style of `bpftool gen skeleton` (see "skeletons" below). Then it compiles the guest with
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--export-table \
 *         -I <build dir> -I <ebpm>/include -I <ebpm>/include/wasm-bpf main.c
 * (`--export-table` exports __indirect_function_table, through which the host calls the poll
 * callback; a function neither defined nor a wasm_bpf import fails the link). The bytes stay a
 * plain ELF image in the module's data, where the build finds them and declares their digest;
 * the host loads nothing else unless --allow-undeclared-bpf.
 *
 * Lifecycle, as in libbpf:
 *   #include "sigsnoop.bpf.o.h"
 *   struct bpf_object *obj = bpf_object__open_mem(sigsnoop_bpf_o, sigsnoop_bpf_o_len);
 *   bpf_object__set_rodata(obj, "filtered_pid", &pid, sizeof(pid));  // const volatile globals
 *   bpf_object__load(obj);        // CO-RE load on the host
 *   bpf_object__attach(obj);      // every program, by its section
 *   struct bpf_buffer *b = bpf_buffer__open(bpf_object__find_map_by_name(obj, "events"), handle_event, NULL);
 *   while (bpf_buffer__poll(b, 100) >= 0) ;
 *   bpf_buffer__free(b); bpf_object__close(obj);
 * or with the skeleton:
 *   #include "sigsnoop.skel.h"
 *   struct sigsnoop_bpf *skel = sigsnoop_bpf__open();
 *   skel->rodata->filtered_pid = pid;
 *   sigsnoop_bpf__load(skel); sigsnoop_bpf__attach(skel);
 *   struct bpf_buffer *b = bpf_buffer__open(skel->maps.events, handle_event, NULL);
 *   ... sigsnoop_bpf__destroy(skel);
 * Only .rodata can be set before load (wasm-bpf has no mmaped .bss/.data either).
 */
#ifndef __LIBBPF_WASM_H
#define __LIBBPF_WASM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef int8_t __s8;
typedef int16_t __s16;
typedef int32_t __s32;
typedef int64_t __s64;

/* ---- the host ABI (wasm_bpf imports) ---------------------------------------------------- */

#define __WASM_BPF_IMPORT(name) __attribute__((import_module("wasm_bpf"), import_name(name)))

/** A loaded object on the host: a small counter, 0 on failure. */
typedef uint64_t bpf_object_skel;

/** Opens and CO-RE loads the ELF image at obj_buf; returns 0 if the host refused or failed. */
__WASM_BPF_IMPORT("wasm_load_bpf_object")
bpf_object_skel wasm_load_bpf_object(const void *obj_buf, int obj_buf_sz);
/** Attaches program `name`; attach_target NULL or "" attaches by section (cgroup path / ifname otherwise). */
__WASM_BPF_IMPORT("wasm_attach_bpf_program")
int wasm_attach_bpf_program(bpf_object_skel obj, const char *name, const char *attach_target);
/** A handle for map `name` of `obj`, valid only with wasm_bpf_map_operate / wasm_bpf_buffer_poll. */
__WASM_BPF_IMPORT("wasm_bpf_map_fd_by_name")
int wasm_bpf_map_fd_by_name(bpf_object_skel obj, const char *name);
/** BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM / GET_NEXT_KEY; sizes are the map's own. */
__WASM_BPF_IMPORT("wasm_bpf_map_operate")
int wasm_bpf_map_operate(int fd, int cmd, void *key, void *value, void *next_key, uint64_t flags);
/** Waits up to timeout_ms, then calls sample_func(ctx, data, size) for every record (size <= max_size). */
__WASM_BPF_IMPORT("wasm_bpf_buffer_poll")
int wasm_bpf_buffer_poll(bpf_object_skel program, int fd, int32_t sample_func, uint32_t ctx, char *data, int max_size,
			 int timeout_ms);
/** Detaches and closes the object. */
__WASM_BPF_IMPORT("wasm_close_bpf_object")
int wasm_close_bpf_object(bpf_object_skel obj);

#undef __WASM_BPF_IMPORT

/*
 * The host returns Linux errno values (negated), as libbpf does; wasi-libc numbers errno
 * differently (ENOENT is 44 there), so every wrapper below converts, and `-ENOENT` and
 * strerror() mean in the guest what they mean on the host.
 */
static inline int __wasm_bpf_ret(int ret)
{
	static const struct { int linux_errno, guest_errno; } map[] = {
		{1, EPERM}, {2, ENOENT}, {3, ESRCH}, {4, EINTR}, {7, E2BIG}, {9, EBADF}, {11, EAGAIN}, {12, ENOMEM},
		{13, EACCES}, {14, EFAULT}, {16, EBUSY}, {17, EEXIST}, {19, ENODEV}, {22, EINVAL},
		{28, ENOSPC}, {95, EOPNOTSUPP},
	};
	if (ret >= 0)
		return ret;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].linux_errno == -ret)
			return -map[i].guest_errno;
	return -EINVAL;
}

/* ---- objects --------------------------------------------------------------------------- */

enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2, BPF_F_LOCK = 4 };
/* Only map commands, with the kernel's numbers (linux/bpf.h enum bpf_cmd). */
enum bpf_cmd { BPF_MAP_LOOKUP_ELEM = 1, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY };

struct bpf_program;
struct bpf_map;

struct bpf_object {
	bpf_object_skel handle;
	unsigned char *data; /* private copy of the ELF image: .rodata is patched here */
	size_t size;
	struct bpf_program *progs; /* the image's programs and maps, in symbol table order */
	struct bpf_map *maps;
};

struct bpf_program {
	struct bpf_object *obj;
	struct bpf_program *next;
	char *name;
	char *attach_target; /* NULL: attach by section */
	bool autoattach;
};

struct bpf_map {
	struct bpf_object *obj;
	struct bpf_map *next;
	int fd; /* the host's handle, asked for at the first bpf_map__fd after load; -1 before */
	char *name;
};

static inline uint64_t __elf_u(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Section header `i` of the image, or NULL when it lies outside. */
static inline const unsigned char *__elf_shdr(const struct bpf_object *obj, uint64_t i)
{
	if (obj->size < 64)
		return NULL;
	uint64_t shoff = __elf_u(obj->data + 40, 8), shnum = __elf_u(obj->data + 60, 2);
	if (__elf_u(obj->data + 58, 2) != 64 || i >= shnum || shoff > obj->size || (obj->size - shoff) / 64 < shnum)
		return NULL;
	return obj->data + shoff + i * 64;
}

/* The string at `off` of string table section `table`, or "" when it is not NUL-terminated inside it. */
static inline const char *__elf_str(const struct bpf_object *obj, uint64_t table, uint64_t off)
{
	const unsigned char *t = __elf_shdr(obj, table);
	if (!t)
		return "";
	uint64_t start = __elf_u(t + 24, 8), size = __elf_u(t + 32, 8);
	if (start > obj->size || size > obj->size - start || off >= size || !memchr(obj->data + start + off, 0, size - off))
		return "";
	return (const char *)obj->data + start + off;
}

static inline const char *__elf_section_name(const struct bpf_object *obj, const unsigned char *sh)
{
	return __elf_str(obj, __elf_u(obj->data + 62, 2), __elf_u(sh, 4));
}

/*
 * Calls fn(obj, name, section_index, value, size, info, arg) for each symbol; stops at the
 * first non-zero return and returns it.
 */
static inline int __elf_each_symbol(const struct bpf_object *obj,
				    int (*fn)(const struct bpf_object *, const char *, uint64_t, uint64_t, uint64_t, int, void *),
				    void *arg)
{
	for (uint64_t i = 0;; i++) {
		const unsigned char *sh = __elf_shdr(obj, i);
		if (!sh)
			return -ENOENT;
		if (__elf_u(sh + 4, 4) != 2 /* SHT_SYMTAB */)
			continue;
		uint64_t off = __elf_u(sh + 24, 8), size = __elf_u(sh + 32, 8), strtab = __elf_u(sh + 40, 4);
		if (off > obj->size || size > obj->size - off)
			return -EINVAL;
		for (uint64_t s = off; s + 24 <= off + size; s += 24) {
			const unsigned char *sym = obj->data + s;
			int ret = fn(obj, __elf_str(obj, strtab, __elf_u(sym, 4)), __elf_u(sym + 6, 2), __elf_u(sym + 8, 8),
				     __elf_u(sym + 16, 8), sym[4], arg);
			if (ret)
				return ret;
		}
		return -ENOENT;
	}
}

static inline int __add_program(struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = calloc(1, sizeof(*p)), **at = &obj->progs;
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return -ENOMEM;
	}
	p->obj = obj;
	p->autoattach = true;
	while (*at)
		at = &(*at)->next;
	*at = p;
	return 0;
}

static inline int __add_map(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = calloc(1, sizeof(*m)), **at = &obj->maps;
	if (!m || !(m->name = strdup(name))) {
		free(m);
		return -ENOMEM;
	}
	m->obj = obj;
	m->fd = -1;
	while (*at)
		at = &(*at)->next;
	*at = m;
	return 0;
}

/*
 * Lists the image's programs (functions in executable sections other than .text, whose
 * functions are subprograms) and maps (objects in .maps, or legacy `maps`).
 */
static inline int __elf_discover(const struct bpf_object *image, const char *name, uint64_t shndx, uint64_t value,
				 uint64_t size, int info, void *arg)
{
	struct bpf_object *obj = arg;
	const unsigned char *sh = __elf_shdr(image, shndx);
	(void)value, (void)size;
	if (!sh || !*name)
		return 0;
	const char *section = __elf_section_name(image, sh);
	if ((info & 0xf) == 2 /* STT_FUNC */ && (__elf_u(sh + 8, 8) & 4 /* SHF_EXECINSTR */) && strcmp(section, ".text"))
		return __add_program(obj, name);
	if ((info & 0xf) == 1 /* STT_OBJECT */ && (!strcmp(section, ".maps") || !strcmp(section, "maps")))
		return __add_map(obj, name);
	return 0;
}

/** Detaches and unloads everything, and frees the object with its programs and maps. */
static inline void bpf_object__close(struct bpf_object *obj)
{
	if (!obj)
		return;
	if (obj->handle)
		wasm_close_bpf_object(obj->handle);
	while (obj->progs) {
		struct bpf_program *next = obj->progs->next;
		free(obj->progs->name);
		free(obj->progs->attach_target);
		free(obj->progs);
		obj->progs = next;
	}
	while (obj->maps) {
		struct bpf_map *next = obj->maps->next;
		free(obj->maps->name);
		free(obj->maps);
		obj->maps = next;
	}
	free(obj->data);
	free(obj);
}

/**
 * Copies the ELF image, so .rodata can be set before load, and lists its programs and maps.
 * NULL with errno set when out of memory (ENOMEM) or the symbol table lies outside (EINVAL).
 */
static inline struct bpf_object *bpf_object__open_mem(const void *buf, size_t size)
{
	struct bpf_object *obj = calloc(1, sizeof(*obj));
	if (!obj)
		return NULL;
	obj->data = malloc(size);
	if (!obj->data) {
		free(obj);
		return NULL;
	}
	memcpy(obj->data, buf, size);
	obj->size = size;
	int err = __elf_each_symbol(obj, __elf_discover, obj);
	if (err != -ENOENT) {
		bpf_object__close(obj);
		errno = err < 0 ? -err : EINVAL;
		return NULL;
	}
	return obj;
}

struct __rodata_set {
	const char *name;
	const void *value;
	size_t size;
};

static inline int __rodata_symbol(const struct bpf_object *obj, const char *name, uint64_t shndx, uint64_t value,
				  uint64_t size, int info, void *arg)
{
	struct __rodata_set *set = arg;
	const unsigned char *sh = __elf_shdr(obj, shndx);
	(void)info;
	if (!sh || strcmp(name, set->name) || strcmp(__elf_section_name(obj, sh), ".rodata"))
		return 0;
	if (size != set->size)
		return -EINVAL;
	uint64_t off = __elf_u(sh + 24, 8), secsize = __elf_u(sh + 32, 8);
	if (value > secsize || size > secsize - value || off > obj->size || secsize > obj->size - off)
		return -EINVAL;
	memcpy(obj->data + off + value, set->value, size);
	return 1;
}

/**
 * Sets `const volatile` global `name` (in .rodata) before load. 0 on success; -ENOENT for no
 * such global, -EINVAL when `size` is not its size, -EBUSY after load.
 */
static inline int bpf_object__set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	struct __rodata_set set = {name, value, size};
	if (obj->handle)
		return -EBUSY;
	int ret = __elf_each_symbol(obj, __rodata_symbol, &set);
	return ret == 1 ? 0 : ret;
}
/** Loads the object into the kernel through the host. 0 or -EINVAL (the host logs why). */
static inline int bpf_object__load(struct bpf_object *obj)
{
	if (obj->handle)
		return -EBUSY;
	obj->handle = wasm_load_bpf_object(obj->data, (int)obj->size);
	return obj->handle ? 0 : -EINVAL;
}

/** Attaches program `prog` (a function name) to `target`, or by its section when target is NULL. */
static inline int bpf_program__attach_target(struct bpf_object *obj, const char *prog, const char *target)
{
	return __wasm_bpf_ret(wasm_attach_bpf_program(obj->handle, prog, target));
}

/** The program called `name` (its function name), or NULL (errno = ENOENT). */
static inline struct bpf_program *bpf_object__find_program_by_name(const struct bpf_object *obj, const char *name)
{
	for (struct bpf_program *p = obj->progs; p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	errno = ENOENT;
	return NULL;
}

static inline const char *bpf_program__name(const struct bpf_program *prog)
{
	return prog->name;
}

/** Whether bpf_object__attach (a skeleton's attach) attaches the program; true at open. */
static inline int bpf_program__set_autoattach(struct bpf_program *prog, bool autoattach)
{
	prog->autoattach = autoattach;
	return 0;
}

static inline bool bpf_program__autoattach(const struct bpf_program *prog)
{
	return prog->autoattach;
}

/**
 * The wasm-bpf host loads every program of an object: a program not to be loaded is one not
 * attached, as bpf_program__set_autoattach(prog, false).
 */
static inline int bpf_program__set_autoload(struct bpf_program *prog, bool autoload)
{
	return bpf_program__set_autoattach(prog, autoload);
}

/**
 * wasm-bpf's way to give bpf_object__attach a target for `prog`: a cgroup path (sockops,
 * cgroup programs) or an interface name (xdp); ebpm's host asks the user to grant it with
 * --allow-attach. NULL or "" attaches by section again.
 */
static inline void bpf_set_prog_attach_target(struct bpf_program *prog, const char *target)
{
	free(prog->attach_target);
	prog->attach_target = target && *target ? strdup(target) : NULL;
}

/** Attaches every program not set otherwise, to its target or by its section, like a skeleton's attach. 0 or the first error. */
static inline int bpf_object__attach(struct bpf_object *obj)
{
	for (struct bpf_program *p = obj->progs; p; p = p->next) {
		if (!p->autoattach)
			continue;
		int err = bpf_program__attach_target(obj, p->name, p->attach_target);
		if (err < 0)
			return err;
	}
	return 0;
}

/** The map called `name`, or NULL (errno = ENOENT) when the object defines none. */
static inline struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name)
{
	for (struct bpf_map *m = obj->maps; m; m = m->next)
		if (!strcmp(m->name, name))
			return m;
	errno = ENOENT;
	return NULL;
}

static inline const char *bpf_map__name(const struct bpf_map *map)
{
	return map->name;
}

/** The map's handle for bpf_map_*_elem, once the object is loaded; a negative errno before, or when the host has no such map. */
static inline int bpf_map__fd(const struct bpf_map *map)
{
	if (!map || !map->obj->handle)
		return -EINVAL;
	if (map->fd < 0) {
		int fd = __wasm_bpf_ret(wasm_bpf_map_fd_by_name(map->obj->handle, map->name));
		if (fd < 0)
			return fd;
		((struct bpf_map *)map)->fd = fd;
	}
	return map->fd;
}

/* ---- skeletons: <name>.skel.h as ebpm build generates it ------------------------------- */

/*
 * A skeleton names an embedded object's maps and programs as struct fields and its
 * `const volatile` globals as `skel->rodata->name`. <name>.skel.h fills one of these in and
 * calls bpf_object__open_skeleton; load, attach and destroy are bpf_object__load,
 * bpf_object__attach and bpf_object__close. Only .rodata is exposed: the host keeps .bss and
 * .data, which a guest cannot map.
 */
struct bpf_map_skeleton {
	const char *name;
	struct bpf_map **map;
};

struct bpf_prog_skeleton {
	const char *name;
	struct bpf_program **prog;
};

struct bpf_object_skeleton {
	const char *name;
	const void *data;
	size_t data_sz;
	struct bpf_object **obj;
	int map_cnt;
	const struct bpf_map_skeleton *maps;
	int prog_cnt;
	const struct bpf_prog_skeleton *progs;
	/* When set: pointed at the image's .rodata, whose bytes configure the object at load. */
	void **rodata;
};

/* The bytes of section `name` of the image, or NULL when it has none inside the image. */
static inline unsigned char *__elf_section(const struct bpf_object *obj, const char *name)
{
	for (uint64_t i = 0;; i++) {
		const unsigned char *sh = __elf_shdr(obj, i);
		if (!sh)
			return NULL;
		if (strcmp(__elf_section_name(obj, sh), name))
			continue;
		uint64_t off = __elf_u(sh + 24, 8), size = __elf_u(sh + 32, 8);
		return off <= obj->size && size <= obj->size - off ? obj->data + off : NULL;
	}
}

/** Opens the skeleton's image and binds its maps, programs and .rodata. 0 or a negative errno. */
static inline int bpf_object__open_skeleton(const struct bpf_object_skeleton *s)
{
	struct bpf_object *obj = bpf_object__open_mem(s->data, s->data_sz);
	if (!obj)
		return -errno;
	*s->obj = obj;
	for (int i = 0; i < s->map_cnt; i++)
		if (!(*s->maps[i].map = bpf_object__find_map_by_name(obj, s->maps[i].name)))
			return -ENOENT;
	for (int i = 0; i < s->prog_cnt; i++)
		if (!(*s->progs[i].prog = bpf_object__find_program_by_name(obj, s->progs[i].name)))
			return -ENOENT;
	if (s->rodata && !(*s->rodata = __elf_section(obj, ".rodata")))
		return -ENOENT;
	return 0;
}

/* ---- maps ------------------------------------------------------------------------------ */

static inline int bpf_map_lookup_elem_flags(int fd, const void *key, void *value, uint64_t flags)
{
	return __wasm_bpf_ret(wasm_bpf_map_operate(fd, BPF_MAP_LOOKUP_ELEM, (void *)key, value, NULL, flags));
}

static inline int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	return bpf_map_lookup_elem_flags(fd, key, value, 0);
}

static inline int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
{
	return __wasm_bpf_ret(wasm_bpf_map_operate(fd, BPF_MAP_UPDATE_ELEM, (void *)key, (void *)value, NULL, flags));
}

static inline int bpf_map_delete_elem_flags(int fd, const void *key, uint64_t flags)
{
	return __wasm_bpf_ret(wasm_bpf_map_operate(fd, BPF_MAP_DELETE_ELEM, (void *)key, NULL, NULL, flags));
}

static inline int bpf_map_delete_elem(int fd, const void *key)
{
	return bpf_map_delete_elem_flags(fd, key, 0);
}

/** The key after `key`; key NULL gives the first key (ebpm's host; upstream hosts need a missing key). */
static inline int bpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	return __wasm_bpf_ret(wasm_bpf_map_operate(fd, BPF_MAP_GET_NEXT_KEY, (void *)key, NULL, next_key, 0));
}

/* ---- ring buffers and perf event arrays ------------------------------------------------ */

typedef int (*bpf_buffer_sample_fn)(void *ctx, void *data, size_t size);

#define BPF_BUFFER_MAX_SAMPLE 4096

struct bpf_buffer {
	struct bpf_map *events;
	bpf_buffer_sample_fn sample_fn;
	void *ctx;
	char *data; /* each record is copied here, truncated to max_size */
	int max_size;
};

/**
 * A consumer of ring buffer or perf event array `events` of a loaded object, calling sample_fn
 * per record. NULL with errno set when `events` is none of the host's.
 */
static inline struct bpf_buffer *bpf_buffer__open(struct bpf_map *events, bpf_buffer_sample_fn sample_fn, void *ctx)
{
	int fd = events && sample_fn ? bpf_map__fd(events) : -EINVAL;
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	struct bpf_buffer *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->data = malloc(BPF_BUFFER_MAX_SAMPLE);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->events = events;
	b->sample_fn = sample_fn;
	b->ctx = ctx;
	b->max_size = BPF_BUFFER_MAX_SAMPLE;
	return b;
}

/** Waits up to timeout_ms; returns the number of records handled, or a negative errno. */
static inline int bpf_buffer__poll(struct bpf_buffer *b, int timeout_ms)
{
	return __wasm_bpf_ret(wasm_bpf_buffer_poll(b->events->obj->handle, b->events->fd, (int32_t)(intptr_t)b->sample_fn,
						   (uint32_t)(uintptr_t)b->ctx, b->data, b->max_size, timeout_ms));
}

static inline void bpf_buffer__free(struct bpf_buffer *b)
{
	if (!b)
		return;
	free(b->data);
	free(b);
}

#endif /* __LIBBPF_WASM_H */
