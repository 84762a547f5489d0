// WAT guests for the wasm-bpf host: one template with the six imports, a poll callback that
// prints each record's bytes and truncated size, and a `$num` that prints an i32 per line.
// Table entries: 1 the callback, 2 a function of one parameter, 3 a callback that fails, 4 a
// function of three i64 parameters (a callback of the wrong type).
import { watBytes } from './helpers.js';

export interface GuestOptions {
  /** BPF object bytes, placed at OBJ in memory. */
  readonly object?: Uint8Array;
  /** Body of `_start`. `$obj` holds the loaded handle after `(call $load_obj)`. */
  readonly body: string;
  /** Declare wasm_bpf_map_operate with i64 pointers (Rust/Go SDK variant). */
  readonly i64MapOperate?: boolean;
  /** TinyGo variant: poll through callback-wrapper and export go-callback. */
  readonly tinygo?: boolean;
  /** With tinygo: false leaves out the go-callback export; 'i64' exports one taking i64s. */
  readonly goCallback?: boolean | 'i64';
  readonly pages?: number;
  /** Extra data segments or functions. */
  readonly extra?: string;
}

/** Fixed addresses in guest memory. */
export const A = { NAME_PROG: 256, NAME_RB: 288, NAME_KV: 296, READY: 304, KEY: 400, VALUE: 408, OUT: 416, NEXT: 424, DATA: 512, OBJ: 4096 } as const;

export function guestWat(o: GuestOptions): string {
  const obj = o.object ?? new Uint8Array();
  const pages = o.pages ?? 2 + Math.ceil((A.OBJ + obj.length) / 65536);
  const ptr = o.i64MapOperate ? 'i64' : 'i32';
  return `(module
  (import "wasm_bpf" "wasm_load_bpf_object" (func $load (param i32 i32) (result i64)))
  (import "wasm_bpf" "wasm_attach_bpf_program" (func $attach (param i64 i32 i32) (result i32)))
  (import "wasm_bpf" "wasm_bpf_map_fd_by_name" (func $fd (param i64 i32) (result i32)))
  (import "wasm_bpf" "wasm_bpf_map_operate" (func $op (param i32 i32 ${ptr} ${ptr} ${ptr} i64) (result i32)))
  ${
    o.tinygo
      ? '(import "callback-wrapper" "wasm_bpf_buffer_poll" (func $gopoll (param i64 i32 i32 i32 i32 i32) (result i32)))'
      : '(import "wasm_bpf" "wasm_bpf_buffer_poll" (func $poll (param i64 i32 i32 i32 i32 i32 i32) (result i32)))'
  }
  (import "wasm_bpf" "wasm_close_bpf_object" (func $close (param i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") ${pages})
  (table (export "__indirect_function_table") 5 funcref)
  (elem (i32.const 1) $cb $not_a_callback $cb_fail $cb_i64)
  (data (i32.const ${A.NAME_PROG}) "wasm_adversary\\00")
  (data (i32.const ${A.NAME_RB}) "rb\\00")
  (data (i32.const ${A.NAME_KV}) "kv\\00")
  (data (i32.const ${A.READY}) "ready\\n")
  (data (i32.const ${A.OBJ}) "${watBytes(obj)}")
  (global $obj (mut i64) (i64.const 0))
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 128) (local.get $ptr)) (i32.store (i32.const 132) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 136))))
  ;; prints a signed decimal and a newline
  (func $num (param $v i32) (local $p i32) (local $neg i32)
    (local.set $p (i32.const 220))
    (i32.store8 (local.get $p) (i32.const 10))
    (local.set $neg (i32.lt_s (local.get $v) (i32.const 0)))
    (if (local.get $neg) (then (local.set $v (i32.sub (i32.const 0) (local.get $v)))))
    (loop $d
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $d (local.get $v)))
    (if (local.get $neg) (then (local.set $p (i32.sub (local.get $p) (i32.const 1))) (i32.store8 (local.get $p) (i32.const 45))))
    (call $write (local.get $p) (i32.sub (i32.const 221) (local.get $p))))
  (func $cb (param $ctx i32) (param $data i32) (param $size i32) (result i32)
    (call $write (local.get $data) (local.get $size))
    (call $num (local.get $size))
    (i32.const 0))
  ;; prints like $cb, then fails: the host must stop and keep the rest for the next poll
  (func $cb_fail (param $ctx i32) (param $data i32) (param $size i32) (result i32)
    (drop (call $cb (local.get $ctx) (local.get $data) (local.get $size)))
    (i32.const -5))
  (func $not_a_callback (param i32) (result i32) (i32.const 0))
  (func $cb_i64 (param i64 i64 i64) (result i32) (i32.const 0))
  ${o.tinygo && o.goCallback === 'i64' ? '(func (export "go-callback") (param i64 i64 i64) (result i32) (i32.const 0))' : ''}
  ${o.tinygo && o.goCallback === undefined ? '(func (export "go-callback") (param i32 i32 i32) (result i32) (call $cb (local.get 0) (local.get 1) (local.get 2)))' : ''}
  (func $load_obj
    (global.set $obj (call $load (i32.const ${A.OBJ}) (i32.const ${obj.length})))
    (call $num (i32.wrap_i64 (global.get $obj))))
  ${o.extra ?? ''}
  (func (export "_start") ${o.body}))`;
}

/** `p(x)` is a pointer argument of map_operate in the declared width. */
export function p(x: number, i64: boolean | undefined): string {
  return i64 ? `(i64.const ${x})` : `(i32.const ${x})`;
}
