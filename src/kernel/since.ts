/**
 * The first Linux release that has each program type, map type and common tracing helper, so a
 * refusal can say which kernel would do. Facts from the kernel's history (uapi linux/bpf.h by
 * release); a name not listed has no known version and is reported without one.
 */

const PROGRAM_TYPES: Readonly<Record<string, string>> = {
  socket_filter: '3.19',
  kprobe: '4.1',
  sched_cls: '4.1',
  sched_act: '4.1',
  tracepoint: '4.7',
  xdp: '4.8',
  perf_event: '4.9',
  cgroup_skb: '4.10',
  cgroup_sock: '4.10',
  lwt_in: '4.10',
  lwt_out: '4.10',
  lwt_xmit: '4.10',
  sock_ops: '4.13',
  sk_skb: '4.14',
  cgroup_device: '4.15',
  sk_msg: '4.17',
  raw_tracepoint: '4.17',
  cgroup_sock_addr: '4.17',
  lwt_seg6local: '4.18',
  lirc_mode2: '4.18',
  sk_reuseport: '4.19',
  flow_dissector: '4.20',
  cgroup_sysctl: '5.2',
  raw_tracepoint_writable: '5.2',
  cgroup_sockopt: '5.3',
  tracing: '5.5',
  struct_ops: '5.6',
  ext: '5.6',
  lsm: '5.7',
  sk_lookup: '5.9',
  syscall: '5.14',
  netfilter: '6.4',
};

const MAP_TYPES: Readonly<Record<string, string>> = {
  hash: '3.19',
  array: '3.19',
  prog_array: '4.2',
  perf_event_array: '4.3',
  percpu_hash: '4.6',
  percpu_array: '4.6',
  stack_trace: '4.6',
  cgroup_array: '4.8',
  lru_hash: '4.10',
  lru_percpu_hash: '4.10',
  lpm_trie: '4.11',
  array_of_maps: '4.12',
  hash_of_maps: '4.12',
  devmap: '4.14',
  sockmap: '4.14',
  cpumap: '4.15',
  xskmap: '4.18',
  sockhash: '4.18',
  cgroup_storage: '4.19',
  reuseport_sockarray: '4.19',
  percpu_cgroup_storage: '4.20',
  queue: '4.20',
  stack: '4.20',
  sk_storage: '5.2',
  devmap_hash: '5.4',
  struct_ops: '5.6',
  ringbuf: '5.8',
  inode_storage: '5.10',
  task_storage: '5.11',
  bloom_filter: '5.16',
  user_ringbuf: '6.1',
  cgrp_storage: '6.2',
  arena: '6.9',
};

/** Helpers by release, the ones tracing tools meet on older kernels. */
const HELPERS_BY_RELEASE: Readonly<Record<string, readonly string[]>> = {
  '4.1': ['probe_read', 'ktime_get_ns', 'trace_printk', 'get_prandom_u32', 'get_smp_processor_id'],
  '4.2': ['tail_call', 'get_current_pid_tgid', 'get_current_uid_gid', 'get_current_comm'],
  '4.3': ['perf_event_read'],
  '4.4': ['perf_event_output'],
  '4.6': ['get_stackid'],
  '4.8': ['get_current_task', 'probe_write_user'],
  '4.11': ['probe_read_str'],
  '4.18': ['get_stack', 'get_current_cgroup_id'],
  '5.3': ['send_signal'],
  '5.5': ['probe_read_user', 'probe_read_kernel', 'probe_read_user_str', 'probe_read_kernel_str', 'send_signal_thread', 'jiffies64'],
  '5.7': ['get_ns_current_pid_tgid'],
  '5.8': ['ringbuf_output', 'ringbuf_reserve', 'ringbuf_submit', 'ringbuf_discard', 'ringbuf_query', 'ktime_get_boot_ns'],
  '5.9': ['seq_printf', 'seq_write', 'get_task_stack'],
  '5.10': ['d_path', 'copy_from_user', 'snprintf_btf', 'per_cpu_ptr', 'this_cpu_ptr'],
  '5.11': ['task_storage_get', 'task_storage_delete', 'get_current_task_btf', 'ktime_get_coarse_ns', 'bprm_opts_set', 'ima_inode_hash'],
  '5.13': ['for_each_map_elem', 'snprintf'],
  '5.14': ['sys_bpf', 'btf_find_by_name_kind', 'sys_close'],
  '5.15': ['timer_init', 'timer_set_callback', 'timer_start', 'timer_cancel', 'get_func_ip', 'get_attach_cookie', 'task_pt_regs'],
  '5.16': ['get_branch_snapshot', 'trace_vprintk', 'kallsyms_lookup_name'],
  '5.17': ['find_vma', 'loop', 'strncmp', 'get_func_arg', 'get_func_ret', 'get_func_arg_cnt'],
  '5.18': ['copy_from_user_task'],
  '5.19': [
    'kptr_xchg',
    'map_lookup_percpu_elem',
    'dynptr_from_mem',
    'ringbuf_reserve_dynptr',
    'ringbuf_submit_dynptr',
    'ringbuf_discard_dynptr',
    'dynptr_read',
    'dynptr_write',
    'dynptr_data',
  ],
  '6.1': ['ktime_get_tai_ns', 'user_ringbuf_drain'],
  '6.2': ['cgrp_storage_get', 'cgrp_storage_delete'],
};

const HELPERS = new Map(Object.entries(HELPERS_BY_RELEASE).flatMap(([release, names]) => names.map((n) => [n, release] as const)));

/** `since` is the first Linux release with program type, map type or helper `name` (without `bpf_`), if known. */
export function since(kind: 'program-type' | 'map-type' | 'helper', name: string): string | undefined {
  switch (kind) {
    case 'program-type':
      return PROGRAM_TYPES[name];
    case 'map-type':
      return MAP_TYPES[name];
    case 'helper':
      return HELPERS.get(name);
  }
}
