/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ebpm.h: annotations for BPF programs packaged with ebpm. Include it after vmlinux.h.
 *
 * EBPM_EXPORT(map, type) tells ebpm that records in `map` (a ring buffer or perf event
 * array) have the layout of `type`, so that `ebpm run` can decode them without BTF at
 * run time. It costs one unused pointer in .bss, which keeps `type` in the object's BTF
 * (the same trick eunomia-bpf's ecc uses with __eunomia_dummy_*).
 */
#ifndef __EBPM_H
#define __EBPM_H

#define EBPM_EXPORT(map, type) \
	const volatile type *__ebpm_export__##map __attribute__((unused))

#endif /* __EBPM_H */
