// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sigsnoop: trace signals as they are generated, from the seed article and libbpf-tools. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <ebpm/ebpm.h>
#include "sigsnoop.h"

/// Trace only signals sent by this process ID (0: every process)
/// @cmdarg {"short": "p", "long": "filtered-pid"}
const volatile pid_t filtered_pid = 0;

/// Trace only this signal number (0: every signal)
/// @cmdarg {"short": "s", "long": "target-signal"}
const volatile int target_signal = 0;

/// Trace only signals that failed to be delivered
/// @cmdarg {"short": "x", "long": "failed-only"}
const volatile bool failed_only = false;

/// Signal events, one per generated signal
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

EBPM_EXPORT(events, struct event);

SEC("tracepoint/signal/signal_generate")
int sig_trace(struct trace_event_raw_signal_generate *ctx)
{
	struct event event = {};
	pid_t tpid = ctx->pid;
	int ret = ctx->errno;
	int sig = ctx->sig;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 pid = pid_tgid >> 32;

	if (failed_only && ret == 0)
		return 0;
	if (target_signal && sig != target_signal)
		return 0;
	if (filtered_pid && pid != filtered_pid)
		return 0;

	event.pid = pid;
	event.tpid = tpid;
	event.sig = sig;
	event.ret = ret;
	bpf_get_current_comm(event.comm, sizeof(event.comm));
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
