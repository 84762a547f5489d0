// Section-name classification (libbpf section_defs), helper ids and map type names.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELPER_NAMES, helperName } from '../../src/bpf/helpers.js';
import { mapTypeName } from '../../src/bpf/map-types.js';
import { sectionInfo } from '../../src/bpf/sections.js';

describe('sectionInfo', () => {
  it('classifies section names as libbpf 1.x does', () => {
    const rows = [
      'tracepoint/signal/signal_generate',
      'tp/sched/sched_process_exec',
      'tp',
      'raw_tp/sched_switch',
      'raw_tracepoint.w/x',
      'tp_btf/sched_wakeup',
      'fentry/do_unlinkat',
      'fexit.s/vfs_read',
      'fmod_ret/security_x',
      'lsm/file_open',
      'lsm_cgroup/socket_bind',
      'iter/task',
      'struct_ops/tcp_init',
      'kprobe/do_unlinkat',
      'kprobe',
      'kretprobe/do_unlinkat+0x10',
      'ksyscall/openat',
      'uprobe//bin/bash:readline',
      'usdt/libc.so.6:libc:setjmp',
      'kprobe.multi/tcp_*',
      'xdp',
      'xdp.frags',
      'xdp/devmap',
      'tc',
      'tc/ingress',
      'classifier',
      'sockops',
      'sk_skb/stream_verdict',
      'sk_msg',
      'cgroup_skb/egress',
      'cgroup/connect4',
      'cgroup/sock',
      'perf_event',
      'socket',
      'syscall',
      'freplace/handler',
      'netfilter',
    ].map((n) => {
      const s = sectionInfo(n)!;
      return [n, s.def, s.type, s.expectedAttachType, s.autoAttach, s.target, s.sleepable, s.needsKernelBtf];
    });
    expect(rows).toEqual([
      ['tracepoint/signal/signal_generate', 'tracepoint+', 'tracepoint', null, true, 'signal/signal_generate', false, false],
      ['tp/sched/sched_process_exec', 'tp+', 'tracepoint', null, true, 'sched/sched_process_exec', false, false],
      ['tp', 'tp+', 'tracepoint', null, false, null, false, false],
      ['raw_tp/sched_switch', 'raw_tp+', 'raw_tracepoint', null, true, 'sched_switch', false, false],
      ['raw_tracepoint.w/x', 'raw_tracepoint.w+', 'raw_tracepoint_writable', null, true, 'x', false, false],
      ['tp_btf/sched_wakeup', 'tp_btf+', 'tracing', 'trace_raw_tp', true, 'sched_wakeup', false, true],
      ['fentry/do_unlinkat', 'fentry+', 'tracing', 'trace_fentry', true, 'do_unlinkat', false, true],
      ['fexit.s/vfs_read', 'fexit.s+', 'tracing', 'trace_fexit', true, 'vfs_read', true, true],
      ['fmod_ret/security_x', 'fmod_ret+', 'tracing', 'modify_return', true, 'security_x', false, true],
      ['lsm/file_open', 'lsm+', 'lsm', 'lsm_mac', true, 'file_open', false, true],
      ['lsm_cgroup/socket_bind', 'lsm_cgroup+', 'lsm', 'lsm_cgroup', false, 'socket_bind', false, true],
      ['iter/task', 'iter+', 'tracing', 'trace_iter', true, 'task', false, true],
      ['struct_ops/tcp_init', 'struct_ops+', 'struct_ops', null, false, 'tcp_init', false, true],
      ['kprobe/do_unlinkat', 'kprobe+', 'kprobe', null, true, 'do_unlinkat', false, false],
      ['kprobe', 'kprobe+', 'kprobe', null, false, null, false, false],
      ['kretprobe/do_unlinkat+0x10', 'kretprobe+', 'kprobe', null, true, 'do_unlinkat+0x10', false, false],
      ['ksyscall/openat', 'ksyscall+', 'kprobe', null, true, 'openat', false, false],
      ['uprobe//bin/bash:readline', 'uprobe+', 'kprobe', null, true, '/bin/bash:readline', false, false],
      ['usdt/libc.so.6:libc:setjmp', 'usdt+', 'kprobe', null, true, 'libc.so.6:libc:setjmp', false, false],
      ['kprobe.multi/tcp_*', 'kprobe.multi+', 'kprobe', 'trace_kprobe_multi', true, 'tcp_*', false, false],
      ['xdp', 'xdp', 'xdp', 'xdp', false, null, false, false],
      ['xdp.frags', 'xdp.frags', 'xdp', 'xdp', false, null, false, false],
      ['xdp/devmap', 'xdp/devmap', 'xdp', 'xdp_devmap', false, null, false, false],
      ['tc', 'tc', 'sched_cls', null, false, null, false, false],
      ['tc/ingress', 'tc/ingress', 'sched_cls', 'tcx_ingress', false, null, false, false],
      ['classifier', 'classifier', 'sched_cls', null, false, null, false, false],
      ['sockops', 'sockops', 'sock_ops', 'cgroup_sock_ops', false, null, false, false],
      ['sk_skb/stream_verdict', 'sk_skb/stream_verdict', 'sk_skb', 'sk_skb_stream_verdict', false, null, false, false],
      ['sk_msg', 'sk_msg', 'sk_msg', 'sk_msg_verdict', false, null, false, false],
      ['cgroup_skb/egress', 'cgroup_skb/egress', 'cgroup_skb', 'cgroup_inet_egress', false, null, false, false],
      ['cgroup/connect4', 'cgroup/connect4', 'cgroup_sock_addr', 'cgroup_inet4_connect', false, null, false, false],
      ['cgroup/sock', 'cgroup/sock', 'cgroup_sock', 'cgroup_inet_sock_create', false, null, false, false],
      ['perf_event', 'perf_event', 'perf_event', null, false, null, false, false],
      ['socket', 'socket', 'socket_filter', null, false, null, false, false],
      ['syscall', 'syscall', 'syscall', null, false, null, true, false],
      ['freplace/handler', 'freplace+', 'ext', null, true, 'handler', false, false],
      ['netfilter', 'netfilter', 'netfilter', 'netfilter', false, null, false, false],
    ]);
  });

  it('knows no program type for names libbpf rejects', () => {
    for (const n of ['', '.text', 'tracepointx/a', 'kprobex', 'xdp2', 'socket/extra', 'tc/other', 'cgroup/unknown', 'license']) {
      expect(sectionInfo(n), n).toBeUndefined();
    }
  });
});

describe('helpers and map types', () => {
  it('names helpers by their uapi id', () => {
    expect([1, 14, 25, 113, 130, 131, 209].map(helperName)).toEqual([
      'bpf_map_lookup_elem',
      'bpf_get_current_pid_tgid',
      'bpf_perf_event_output',
      'bpf_probe_read_kernel',
      'bpf_ringbuf_output',
      'bpf_ringbuf_reserve',
      'bpf_user_ringbuf_drain',
    ]);
    expect([0, 210, -1, 1.5].map(helperName)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('matches the machine header where it has one', () => {
    // The table was generated from linux-libc-dev 6.1; a newer header may only append.
    const header = readFileSync('/usr/include/linux/bpf.h', 'utf8');
    const lines = header.slice(header.indexOf('#define __BPF_FUNC_MAPPER(FN)')).split('\n');
    const mapper = lines.slice(1, lines.findIndex((l) => !l.trimEnd().endsWith('\\')) + 1).join('\n');
    const names = [...mapper.matchAll(/FN\((\w+)/g)].map((m) => m[1]);
    expect(names.slice(0, HELPER_NAMES.length)).toEqual(HELPER_NAMES);
  });

  it('names map types', () => {
    expect([1, 4, 27, 31, 33, 99].map(mapTypeName)).toEqual(['hash', 'perf_event_array', 'ringbuf', 'user_ringbuf', 'arena', 'type#99']);
  });
});
