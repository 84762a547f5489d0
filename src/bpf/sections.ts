// libbpf's table of program section names (`section_defs` in src/libbpf.c, libbpf 1.x up to
// the 1.8 development tree). Program and attach type names are libbpf's (`libbpf_bpf_prog_type_str`,
// `libbpf_bpf_attach_type_str`), i.e. the uapi enum names of linux/bpf.h lower-cased without
// the BPF_PROG_TYPE_ / BPF_ prefix. Entries marked "1.N+" first appeared in libbpf 1.N (checked
// against the release tags); libbpf 1.1 lacks them, but they are listed so that objects built
// for newer loaders still read.

/** Program types (uapi enum bpf_prog_type). */
export type ProgType =
  | 'unspec'
  | 'socket_filter'
  | 'kprobe'
  | 'sched_cls'
  | 'sched_act'
  | 'tracepoint'
  | 'xdp'
  | 'perf_event'
  | 'cgroup_skb'
  | 'cgroup_sock'
  | 'lwt_in'
  | 'lwt_out'
  | 'lwt_xmit'
  | 'sock_ops'
  | 'sk_skb'
  | 'cgroup_device'
  | 'sk_msg'
  | 'raw_tracepoint'
  | 'cgroup_sock_addr'
  | 'lwt_seg6local'
  | 'lirc_mode2'
  | 'sk_reuseport'
  | 'flow_dissector'
  | 'cgroup_sysctl'
  | 'raw_tracepoint_writable'
  | 'cgroup_sockopt'
  | 'tracing'
  | 'struct_ops'
  | 'ext'
  | 'lsm'
  | 'sk_lookup'
  | 'syscall'
  | 'netfilter';

/** How libbpf's `bpf_program__attach` treats a section. */
type Attach =
  | 'target' // auto-attaches when the section names a target (`kprobe/do_unlinkat`), not when bare (`kprobe`)
  | 'always' // auto-attaches; the target is resolved from kernel BTF at load (`fentry/…`, `lsm/…`, `iter/…`)
  | 'never'; // needs a target the section cannot name (interface, cgroup, socket) or is attached by a map

interface SecDef {
  /** libbpf spelling: `x+` matches `x` or `x/…`; `x/` needs `x/…`; else the name must be exact. */
  readonly sec: string;
  readonly type: ProgType;
  readonly attachType: string | null;
  readonly attach: Attach;
  readonly sleepable?: true;
  /** Resolves its attach point in kernel BTF at load (libbpf SEC_ATTACH_BTF, struct_ops). */
  readonly btf?: true;
}

const d = (sec: string, type: ProgType, attachType: string | null, attach: Attach, extra: Partial<SecDef> = {}): SecDef => ({
  sec,
  type,
  attachType,
  attach,
  ...extra,
});
const S = { sleepable: true } as const;
const B = { btf: true } as const;
const BS = { btf: true, sleepable: true } as const;

// Order matters: libbpf takes the first match, so longer prefixes come first.
const SECTION_DEFS: readonly SecDef[] = [
  d('socket', 'socket_filter', null, 'never'),
  d('sk_reuseport/migrate', 'sk_reuseport', 'sk_reuseport_select_or_migrate', 'never'),
  d('sk_reuseport', 'sk_reuseport', 'sk_reuseport_select', 'never'),
  d('kprobe+', 'kprobe', null, 'target'),
  d('uprobe+', 'kprobe', null, 'target'),
  d('uprobe.s+', 'kprobe', null, 'target', S),
  d('kretprobe+', 'kprobe', null, 'target'),
  d('uretprobe+', 'kprobe', null, 'target'),
  d('uretprobe.s+', 'kprobe', null, 'target', S),
  d('kprobe.multi+', 'kprobe', 'trace_kprobe_multi', 'target'),
  d('kretprobe.multi+', 'kprobe', 'trace_kprobe_multi', 'target'),
  d('kprobe.session+', 'kprobe', 'trace_kprobe_session', 'target'), // 1.5+
  d('uprobe.multi+', 'kprobe', 'trace_uprobe_multi', 'target'), // 1.3+
  d('uretprobe.multi+', 'kprobe', 'trace_uprobe_multi', 'target'), // 1.3+
  d('uprobe.session+', 'kprobe', 'trace_uprobe_session', 'target'), // 1.6+
  d('uprobe.multi.s+', 'kprobe', 'trace_uprobe_multi', 'target', S), // 1.3+
  d('uretprobe.multi.s+', 'kprobe', 'trace_uprobe_multi', 'target', S), // 1.3+
  d('uprobe.session.s+', 'kprobe', 'trace_uprobe_session', 'target', S), // 1.6+
  d('ksyscall+', 'kprobe', null, 'target'),
  d('kretsyscall+', 'kprobe', null, 'target'),
  d('usdt+', 'kprobe', null, 'target'),
  d('usdt.s+', 'kprobe', null, 'target', S), // 1.3+
  d('tc/ingress', 'sched_cls', 'tcx_ingress', 'never'), // 1.3+, alias of tcx
  d('tc/egress', 'sched_cls', 'tcx_egress', 'never'), // 1.3+
  d('tcx/ingress', 'sched_cls', 'tcx_ingress', 'never'), // 1.3+
  d('tcx/egress', 'sched_cls', 'tcx_egress', 'never'), // 1.3+
  d('tc', 'sched_cls', null, 'never'),
  d('classifier', 'sched_cls', null, 'never'),
  d('action', 'sched_act', null, 'never'),
  d('netkit/primary', 'sched_cls', 'netkit_primary', 'never'), // 1.3+
  d('netkit/peer', 'sched_cls', 'netkit_peer', 'never'), // 1.3+
  d('tracepoint+', 'tracepoint', null, 'target'),
  d('tp+', 'tracepoint', null, 'target'),
  d('tracepoint.s+', 'tracepoint', null, 'target', S), // 1.8+
  d('tp.s+', 'tracepoint', null, 'target', S), // 1.8+
  d('raw_tracepoint+', 'raw_tracepoint', null, 'target'),
  d('raw_tp+', 'raw_tracepoint', null, 'target'),
  d('raw_tracepoint.s+', 'raw_tracepoint', null, 'target', S), // 1.8+
  d('raw_tp.s+', 'raw_tracepoint', null, 'target', S), // 1.8+
  d('raw_tracepoint.w+', 'raw_tracepoint_writable', null, 'target'),
  d('raw_tp.w+', 'raw_tracepoint_writable', null, 'target'),
  d('tp_btf+', 'tracing', 'trace_raw_tp', 'always', B),
  d('tp_btf.s+', 'tracing', 'trace_raw_tp', 'always', BS), // 1.8+
  d('fentry+', 'tracing', 'trace_fentry', 'always', B),
  d('fmod_ret+', 'tracing', 'modify_return', 'always', B),
  d('fexit+', 'tracing', 'trace_fexit', 'always', B),
  d('fentry.s+', 'tracing', 'trace_fentry', 'always', BS),
  d('fmod_ret.s+', 'tracing', 'modify_return', 'always', BS),
  d('fexit.s+', 'tracing', 'trace_fexit', 'always', BS),
  d('fsession+', 'tracing', 'trace_fsession', 'always', B), // 1.7+
  d('fsession.s+', 'tracing', 'trace_fsession', 'always', BS), // 1.7+
  d('fsession.multi+', 'tracing', 'trace_fsession_multi', 'target', B), // 1.8+
  d('fsession.multi.s+', 'tracing', 'trace_fsession_multi', 'target', BS), // 1.8+
  d('fentry.multi+', 'tracing', 'trace_fentry_multi', 'target', B), // 1.8+
  d('fexit.multi+', 'tracing', 'trace_fexit_multi', 'target', B), // 1.8+
  d('fentry.multi.s+', 'tracing', 'trace_fentry_multi', 'target', BS), // 1.8+
  d('fexit.multi.s+', 'tracing', 'trace_fexit_multi', 'target', BS), // 1.8+
  // freplace attaches to another BPF program's BTF, not the kernel's.
  d('freplace+', 'ext', null, 'always'),
  d('lsm+', 'lsm', 'lsm_mac', 'always', B),
  d('lsm.s+', 'lsm', 'lsm_mac', 'always', BS),
  d('lsm_cgroup+', 'lsm', 'lsm_cgroup', 'never', B),
  d('iter+', 'tracing', 'trace_iter', 'always', B),
  d('iter.s+', 'tracing', 'trace_iter', 'always', BS),
  d('syscall', 'syscall', null, 'never', S),
  d('xdp.frags/devmap', 'xdp', 'xdp_devmap', 'never'),
  d('xdp/devmap', 'xdp', 'xdp_devmap', 'never'),
  d('xdp.frags/cpumap', 'xdp', 'xdp_cpumap', 'never'),
  d('xdp/cpumap', 'xdp', 'xdp_cpumap', 'never'),
  d('xdp.frags', 'xdp', 'xdp', 'never'),
  d('xdp', 'xdp', 'xdp', 'never'),
  d('perf_event', 'perf_event', null, 'never'),
  d('lwt_in', 'lwt_in', null, 'never'),
  d('lwt_out', 'lwt_out', null, 'never'),
  d('lwt_xmit', 'lwt_xmit', null, 'never'),
  d('lwt_seg6local', 'lwt_seg6local', null, 'never'),
  d('sockops', 'sock_ops', 'cgroup_sock_ops', 'never'),
  d('sk_skb/stream_parser', 'sk_skb', 'sk_skb_stream_parser', 'never'),
  d('sk_skb/stream_verdict', 'sk_skb', 'sk_skb_stream_verdict', 'never'),
  d('sk_skb/verdict', 'sk_skb', 'sk_skb_verdict', 'never'), // 1.4+
  d('sk_skb', 'sk_skb', null, 'never'),
  d('sk_msg', 'sk_msg', 'sk_msg_verdict', 'never'),
  d('lirc_mode2', 'lirc_mode2', 'lirc_mode2', 'never'),
  d('flow_dissector', 'flow_dissector', 'flow_dissector', 'never'),
  d('cgroup_skb/ingress', 'cgroup_skb', 'cgroup_inet_ingress', 'never'),
  d('cgroup_skb/egress', 'cgroup_skb', 'cgroup_inet_egress', 'never'),
  d('cgroup/skb', 'cgroup_skb', null, 'never'),
  d('cgroup/sock_create', 'cgroup_sock', 'cgroup_inet_sock_create', 'never'),
  d('cgroup/sock_release', 'cgroup_sock', 'cgroup_inet_sock_release', 'never'),
  d('cgroup/sock', 'cgroup_sock', 'cgroup_inet_sock_create', 'never'),
  d('cgroup/post_bind4', 'cgroup_sock', 'cgroup_inet4_post_bind', 'never'),
  d('cgroup/post_bind6', 'cgroup_sock', 'cgroup_inet6_post_bind', 'never'),
  d('cgroup/bind4', 'cgroup_sock_addr', 'cgroup_inet4_bind', 'never'),
  d('cgroup/bind6', 'cgroup_sock_addr', 'cgroup_inet6_bind', 'never'),
  d('cgroup/connect4', 'cgroup_sock_addr', 'cgroup_inet4_connect', 'never'),
  d('cgroup/connect6', 'cgroup_sock_addr', 'cgroup_inet6_connect', 'never'),
  d('cgroup/connect_unix', 'cgroup_sock_addr', 'cgroup_unix_connect', 'never'), // 1.3+
  d('cgroup/sendmsg4', 'cgroup_sock_addr', 'cgroup_udp4_sendmsg', 'never'),
  d('cgroup/sendmsg6', 'cgroup_sock_addr', 'cgroup_udp6_sendmsg', 'never'),
  d('cgroup/sendmsg_unix', 'cgroup_sock_addr', 'cgroup_unix_sendmsg', 'never'), // 1.3+
  d('cgroup/recvmsg4', 'cgroup_sock_addr', 'cgroup_udp4_recvmsg', 'never'),
  d('cgroup/recvmsg6', 'cgroup_sock_addr', 'cgroup_udp6_recvmsg', 'never'),
  d('cgroup/recvmsg_unix', 'cgroup_sock_addr', 'cgroup_unix_recvmsg', 'never'), // 1.3+
  d('cgroup/getpeername4', 'cgroup_sock_addr', 'cgroup_inet4_getpeername', 'never'),
  d('cgroup/getpeername6', 'cgroup_sock_addr', 'cgroup_inet6_getpeername', 'never'),
  d('cgroup/getpeername_unix', 'cgroup_sock_addr', 'cgroup_unix_getpeername', 'never'), // 1.3+
  d('cgroup/getsockname4', 'cgroup_sock_addr', 'cgroup_inet4_getsockname', 'never'),
  d('cgroup/getsockname6', 'cgroup_sock_addr', 'cgroup_inet6_getsockname', 'never'),
  d('cgroup/getsockname_unix', 'cgroup_sock_addr', 'cgroup_unix_getsockname', 'never'), // 1.3+
  d('cgroup/sysctl', 'cgroup_sysctl', 'cgroup_sysctl', 'never'),
  d('cgroup/getsockopt', 'cgroup_sockopt', 'cgroup_getsockopt', 'never'),
  d('cgroup/setsockopt', 'cgroup_sockopt', 'cgroup_setsockopt', 'never'),
  d('cgroup/dev', 'cgroup_device', 'cgroup_device', 'never'),
  // struct_ops programs are attached by registering their struct_ops map, against kernel BTF.
  d('struct_ops+', 'struct_ops', null, 'never', B),
  d('struct_ops.s+', 'struct_ops', null, 'never', BS), // 1.2+
  d('sk_lookup', 'sk_lookup', 'sk_lookup', 'never'),
  d('netfilter', 'netfilter', 'netfilter', 'never'), // 1.3+
];

/** What a program's ELF section name tells a loader. */
export interface SectionInfo {
  /** The matching libbpf table entry (`tracepoint+`, `xdp`). */
  readonly def: string;
  readonly type: ProgType;
  /** libbpf's expected attach type name (`trace_raw_tp`), or null when the kernel needs none. */
  readonly expectedAttachType: string | null;
  /** Whether `bpf_program__attach` can attach it from the section name alone. */
  readonly autoAttach: boolean;
  /** What the section names after `<prefix>/` (`signal/signal_generate`, `do_unlinkat`), or null. */
  readonly target: string | null;
  readonly sleepable: boolean;
  /** Whether loading resolves the attach point in the running kernel's BTF. */
  readonly needsKernelBtf: boolean;
}

function matches(sec: string, name: string): { target: string | null } | undefined {
  if (sec.endsWith('+')) {
    const pfx = sec.slice(0, -1);
    if (name === pfx) return { target: null };
    return name.startsWith(`${pfx}/`) ? { target: name.slice(pfx.length + 1) } : undefined;
  }
  if (sec.endsWith('/')) return name.startsWith(sec) ? { target: name.slice(sec.length) } : undefined;
  return name === sec ? { target: null } : undefined;
}

/**
 * `sectionInfo` classifies a program section as libbpf 1.x does, or returns undefined for a
 * name libbpf does not know (such a program loads only with an explicit type).
 * `sectionInfo('tracepoint/signal/signal_generate')` → `{type: 'tracepoint', target: 'signal/signal_generate', autoAttach: true, …}`.
 */
export function sectionInfo(name: string): SectionInfo | undefined {
  for (const def of SECTION_DEFS) {
    const m = matches(def.sec, name);
    if (m === undefined) continue;
    const target = m.target === '' ? null : m.target;
    return {
      def: def.sec,
      type: def.type,
      expectedAttachType: def.attachType,
      autoAttach: def.attach === 'always' || (def.attach === 'target' && target !== null),
      target,
      sleepable: def.sleepable === true,
      needsKernelBtf: def.btf === true,
    };
  }
  return undefined;
}
