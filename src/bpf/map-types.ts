// Map type names by number (uapi enum bpf_map_type), lower-cased without BPF_MAP_TYPE_, as
// libbpf's libbpf_bpf_map_type_str spells them. 0-31 are from /usr/include/linux/bpf.h (6.1);
// cgrp_storage (6.2), arena (6.9), insn_array and rhash come from libbpf's newer uapi copy.

export const MAP_TYPE_NAMES: readonly string[] = [
  'unspec',
  'hash',
  'array',
  'prog_array',
  'perf_event_array',
  'percpu_hash',
  'percpu_array',
  'stack_trace',
  'cgroup_array',
  'lru_hash',
  'lru_percpu_hash',
  'lpm_trie',
  'array_of_maps',
  'hash_of_maps',
  'devmap',
  'sockmap',
  'cpumap',
  'xskmap',
  'sockhash',
  'cgroup_storage',
  'reuseport_sockarray',
  'percpu_cgroup_storage',
  'queue',
  'stack',
  'sk_storage',
  'devmap_hash',
  'struct_ops',
  'ringbuf',
  'inode_storage',
  'task_storage',
  'bloom_filter',
  'user_ringbuf',
  'cgrp_storage',
  'arena',
  'insn_array',
  'rhash',
];

/** `mapTypeName` is libbpf's name for a map type number, or `type#<n>` for one newer than this table. */
export function mapTypeName(type: number): string {
  return MAP_TYPE_NAMES[type] ?? `type#${type}`;
}
