// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* {{name}}: trace every process execution (the sched_process_exec tracepoint) into a ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <ebpm/ebpm.h>
#include "{{name}}.h"

/* A `const volatile` global is a package parameter: `ebpm run` makes it a flag and sets it
 * before load. The `///` lines are its description; @cmdarg names the flag. */

/// Trace only processes started by this parent process ID (0: every process)
/// @cmdarg {"short": "p", "long": "ppid"}
const volatile pid_t targ_ppid = 0;

/// Exec events, one per successful execve(2)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Records in `events` are `struct event`: ebpm decodes them from the package metadata. */
EBPM_EXPORT(events, struct event);

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t ppid = BPF_CORE_READ(task, real_parent, tgid);
	unsigned fname_off;
	struct event *e;

	if (targ_ppid && ppid != targ_ppid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = ppid;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	/* __data_loc: the low 16 bits are the file name's offset within the tracepoint record */
	fname_off = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(&e->filename, sizeof(e->filename), (void *)ctx + fname_off);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
