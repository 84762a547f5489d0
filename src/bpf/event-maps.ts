/** `isEventMapType` tells whether maps of libbpf's type `type` carry events to user space as a stream: ring buffers and perf event arrays. */
export function isEventMapType(type: string): boolean {
  return type === 'ringbuf' || type === 'perf_event_array';
}
