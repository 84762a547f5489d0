/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libbpf-wasm.h: the guest SDK for eBPF user space in WebAssembly (wasm32-wasi), over the
 * wasm-bpf host ABI that ebpm's runtime provides (import module "wasm_bpf", the same six
 * functions and signatures as eunomia-bpf/wasm-bpf, so guests built with it also run there).
 *
 * `ebpm build` compiles the package's BPF objects first and writes, for each `x.bpf.o`, a header
 * `x.bpf.o.h` in the build directory with the object's bytes as `unsigned char x_bpf_o[]` and
 * `unsigned int x_bpf_o_len` (`xxd -i` naming); then it compiles the guest with
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--export-table -Wl,--allow-undefined \
 *         -I <build dir> -I <ebpm>/include main.c
 * (`--export-table` exports __indirect_function_table, through which the host calls the poll
 * callback). The bytes stay a plain ELF image in the module's data, where the build finds them
 * and declares their digest; the host loads nothing else unless --allow-undeclared-bpf.
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
		{1, EPERM}, {2, ENOENT}, {3, ESRCH}, {7, E2BIG}, {9, EBADF}, {11, EAGAIN}, {12, ENOMEM},
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

struct bpf_object {
	bpf_object_skel handle;
	unsigned char *data; /* private copy of the ELF image: .rodata is patched here */
	size_t size;
	struct bpf_map *maps; /* maps looked up so far */
};

struct bpf_map {
	struct bpf_object *obj;
	struct bpf_map *next;
	int fd;
	char name[64];
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

/** Copies the ELF image so .rodata can be set before load. NULL when out of memory. */
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

static inline int __attach_program(const struct bpf_object *obj, const char *name, uint64_t shndx, uint64_t value,
				   uint64_t size, int info, void *arg)
{
	const unsigned char *sh = __elf_shdr(obj, shndx);
	(void)value, (void)size, (void)arg;
	/* BPF programs: global functions in executable sections other than .text (subprograms). */
	if (!sh || (info & 0xf) != 2 /* STT_FUNC */ || (info >> 4) != 1 /* STB_GLOBAL */ || !(__elf_u(sh + 8, 8) & 4) ||
	    !strcmp(__elf_section_name(obj, sh), ".text"))
		return 0;
	int err = __wasm_bpf_ret(wasm_attach_bpf_program(obj->handle, name, NULL));
	return err < 0 ? err : 0;
}

/** Attaches every program by its section, like a skeleton's attach. 0 or the first error. */
static inline int bpf_object__attach(struct bpf_object *obj)
{
	int ret = __elf_each_symbol(obj, __attach_program, NULL);
	return ret == -ENOENT ? 0 : ret;
}

/** The map called `name`, or NULL (errno = ENOENT) when the loaded object has none. */
static inline struct bpf_map *bpf_object__find_map_by_name(struct bpf_object *obj, const char *name)
{
	for (struct bpf_map *m = obj->maps; m; m = m->next)
		if (!strcmp(m->name, name))
			return m;
	int fd = wasm_bpf_map_fd_by_name(obj->handle, name);
	if (fd < 0 || strlen(name) >= sizeof(((struct bpf_map *)0)->name)) {
		errno = ENOENT;
		return NULL;
	}
	struct bpf_map *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->obj = obj;
	m->fd = fd;
	strcpy(m->name, name);
	m->next = obj->maps;
	obj->maps = m;
	return m;
}

static inline int bpf_map__fd(const struct bpf_map *map)
{
	return map ? map->fd : -EINVAL;
}

/** Detaches and unloads everything, and frees the object. */
static inline void bpf_object__close(struct bpf_object *obj)
{
	if (!obj)
		return;
	if (obj->handle)
		wasm_close_bpf_object(obj->handle);
	while (obj->maps) {
		struct bpf_map *next = obj->maps->next;
		free(obj->maps);
		obj->maps = next;
	}
	free(obj->data);
	free(obj);
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

/** A consumer of ring buffer or perf event array `events`, calling sample_fn per record. */
static inline struct bpf_buffer *bpf_buffer__open(struct bpf_map *events, bpf_buffer_sample_fn sample_fn, void *ctx)
{
	if (!events || !sample_fn)
		return NULL;
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
