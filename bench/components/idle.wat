;; idle: the component bench_density starts by the thousand. One page (64 KiB)
;; of linear memory and a message handler that does nothing. airssys_init
;; writes a byte to every 4 KiB of the page (a constant: a compiler may drop
;; the store of a value just loaded from the same place), so the whole page is
;; resident on every tier and in V8 alike: the host's own memory per component
;; is what the process grew by, less that page. Nothing reads those bytes.
(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))

  (func (export "airssys_init") (param $config i32) (param $config_len i32) (result i32)
    (local $at i32)
    (loop $touch
      (i32.store8 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $at) (i32.const 65536))))
    (i32.const 0))

  ;; A bump allocator that starts over when the page is used up: a payload is
  ;; handed over, handled and let go before the next one.
  (func (export "airssys_alloc") (param $size i32) (result i32)
    (local $at i32)
    (if (i32.gt_u (local.get $size) (i32.const 63488))
      (then (return (i32.const 0))))
    (if (i32.gt_u (i32.add (global.get $next) (local.get $size)) (i32.const 65536))
      (then (global.set $next (i32.const 1024))))
    (local.set $at (global.get $next))
    (global.set $next
      (i32.and (i32.add (i32.add (local.get $at) (local.get $size)) (i32.const 7))
               (i32.const -8)))
    (local.get $at))

  (func (export "airssys_dealloc") (param $pointer i32) (param $size i32))

  (func (export "airssys_handle_message")
    (param $kind i32) (param $correlation i64) (param $sender i32) (param $sender_len i32)
    (param $topic i32) (param $topic_len i32) (param $payload i32) (param $payload_len i32)
    (result i32)
    (i32.const 0)))
