// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* opensnoop: trace openat(2) calls with their result, after libbpf-tools' opensnoop. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <ebpm/ebpm.h>
#include "opensnoop.h"

/// Trace only this process ID (0: every process)
/// @cmdarg {"short": "p", "long": "pid"}
const volatile pid_t targ_pid = 0;

/// Trace only this user ID (4294967295, the largest uid_t: every user)
/// @cmdarg {"short": "u", "long": "uid"}
const volatile uid_t targ_uid = -1;

/// Trace only failed opens
/// @cmdarg {"short": "x", "long": "failed"}
const volatile bool targ_failed = false;

/// openat arguments saved at entry, by thread ID
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct args_t);
} start SEC(".maps");

/// Open events
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

EBPM_EXPORT(events, struct event);

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 pid = id >> 32, tid = (u32)id;
	u32 uid = (u32)bpf_get_current_uid_gid();
	struct args_t args = {};

	if (targ_pid && targ_pid != pid)
		return 0;
	if (targ_uid != (uid_t)-1 && targ_uid != uid)
		return 0;
	args.fname = (const char *)ctx->args[1];
	args.flags = (int)ctx->args[2];
	bpf_map_update_elem(&start, &tid, &args, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int trace_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct args_t *ap = bpf_map_lookup_elem(&start, &tid);
	struct event *e;
	int ret;

	if (!ap)
		return 0;
	ret = (int)ctx->ret;
	if (targ_failed && ret >= 0)
		goto cleanup;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto cleanup;
	e->ts = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->uid = (u32)bpf_get_current_uid_gid();
	e->ret = ret;
	e->flags = ap->flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->fname, sizeof(e->fname), ap->fname);
	bpf_ringbuf_submit(e, 0);
cleanup:
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
