// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* execsnoop: trace execve(2) calls, failed ones included, after libbpf-tools' execsnoop. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <ebpm/ebpm.h>
#include "execsnoop.h"

/// Trace only this user ID (4294967295, the largest uid_t: every user)
/// @cmdarg {"short": "u", "long": "uid"}
const volatile uid_t targ_uid = -1;

/// Also trace execs that failed
/// @cmdarg {"short": "x", "long": "failed"}
const volatile bool trace_failed = true;

/// Events being built, by thread ID, between syscall entry and exit
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, pid_t);
	__type(value, struct event);
} execs SEC(".maps");

/// Exec events
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

EBPM_EXPORT(events, struct event);

static const struct event empty_event = {};

SEC("tracepoint/syscalls/sys_enter_execve")
int tracepoint__syscalls__sys_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	pid_t tid = (pid_t)id;
	uid_t uid = (u32)bpf_get_current_uid_gid();
	struct task_struct *task;
	struct event *e;

	if (targ_uid != (uid_t)-1 && targ_uid != uid)
		return 0;
	if (bpf_map_update_elem(&execs, &tid, &empty_event, BPF_NOEXIST))
		return 0;
	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	e->pid = id >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = uid;
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int tracepoint__syscalls__sys_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	pid_t tid = (pid_t)id;
	struct event *e = bpf_map_lookup_elem(&execs, &tid);
	int ret;

	if (!e)
		return 0;
	ret = (int)ctx->ret;
	if (ret == 0 || trace_failed) {
		e->retval = ret;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_ringbuf_output(&events, e, sizeof(*e), 0);
	}
	bpf_map_delete_elem(&execs, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
