;; A component that attacks through its tables (threat suite T43, T44). Its
;; messages, by their first byte:
;;   "grow"  grows its three tables (two of function references, one of
;;           external references) 4096 elements at a time, then one at a time,
;;           each until table.grow returns -1, and prints
;;           "tables grew funcref=A externref=B other=C";
;;   "fill", "copy", "init"  run table.fill, table.copy or table.init of
;;           0xFFFFFFFF elements from index 0 of a table of 4, which must trap
;;           out of bounds at once and not burn the message's fuel.
;; At start it prints "tables init".
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $funcs 4 funcref)
  (table $refs 0 externref)
  (table $other 4 funcref)
  (func $noop)
  (elem $segment func $noop $noop)
  ;; 0: the iovec, 8: bytes written, 64: texts, 256: the line, 1024: messages
  (data (i32.const 64) "tables init\n")
  (data (i32.const 80) "tables grew funcref=")
  (data (i32.const 104) " externref=")
  (data (i32.const 120) " other=")

  ;; Writes [at, end) to stdout.
  (func $print (param $at i32) (param $end i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.sub (local.get $end) (local.get $at)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  ;; Copies [from, from + length) to `at`; returns the end.
  (func $text (param $at i32) (param $from i32) (param $length i32) (result i32)
    (memory.copy (local.get $at) (local.get $from) (local.get $length))
    (i32.add (local.get $at) (local.get $length)))

  ;; Writes the decimal digits of `n` at `at`; returns the end.
  (func $number (param $at i32) (param $n i32) (result i32)
    (local $end i32) (local $x i32)
    (local.set $end (i32.add (local.get $at) (i32.const 1)))
    (local.set $x (local.get $n))
    (block $counted
      (loop $count
        (br_if $counted (i32.lt_u (local.get $x) (i32.const 10)))
        (local.set $x (i32.div_u (local.get $x) (i32.const 10)))
        (local.set $end (i32.add (local.get $end) (i32.const 1)))
        (br $count)))
    (local.set $x (local.get $end))
    (loop $digit
      (local.set $x (i32.sub (local.get $x) (i32.const 1)))
      (i32.store8 (local.get $x)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (local.get $end))

  (func $grow
    (local $at i32)
    (block $done (loop $more
      (br_if $done (i32.eq (table.grow $funcs (ref.null func) (i32.const 4096)) (i32.const -1)))
      (br $more)))
    (block $done (loop $more
      (br_if $done (i32.eq (table.grow $funcs (ref.null func) (i32.const 1)) (i32.const -1)))
      (br $more)))
    (block $done (loop $more
      (br_if $done (i32.eq (table.grow $refs (ref.null extern) (i32.const 4096)) (i32.const -1)))
      (br $more)))
    (block $done (loop $more
      (br_if $done (i32.eq (table.grow $refs (ref.null extern) (i32.const 1)) (i32.const -1)))
      (br $more)))
    (block $done (loop $more
      (br_if $done (i32.eq (table.grow $other (ref.null func) (i32.const 4096)) (i32.const -1)))
      (br $more)))
    (block $done (loop $more
      (br_if $done (i32.eq (table.grow $other (ref.null func) (i32.const 1)) (i32.const -1)))
      (br $more)))
    (local.set $at (call $text (i32.const 256) (i32.const 80) (i32.const 20)))
    (local.set $at (call $number (local.get $at) (table.size $funcs)))
    (local.set $at (call $text (local.get $at) (i32.const 104) (i32.const 11)))
    (local.set $at (call $number (local.get $at) (table.size $refs)))
    (local.set $at (call $text (local.get $at) (i32.const 120) (i32.const 7)))
    (local.set $at (call $number (local.get $at) (table.size $other)))
    (i32.store8 (local.get $at) (i32.const 10))
    (call $print (i32.const 256) (i32.add (local.get $at) (i32.const 1))))

  (func (export "airssys_alloc") (param i32) (result i32) (i32.const 1024))

  (func (export "airssys_init") (param i32 i32) (result i32)
    (call $print (i32.const 64) (i32.const 76))
    (i32.const 0))

  (func (export "airssys_handle_message")
    (param $kind i32) (param $id i64) (param $sender i32) (param $sender_len i32)
    (param $topic i32) (param $topic_len i32) (param $payload i32) (param $payload_len i32)
    (result i32)
    (local $verb i32)
    (if (i32.eqz (local.get $payload_len)) (then (return (i32.const 0))))
    (local.set $verb (i32.load8_u (local.get $payload)))
    (if (i32.eq (local.get $verb) (i32.const 103))  ;; g
      (then (call $grow)))
    (if (i32.eq (local.get $verb) (i32.const 102))  ;; f
      (then (table.fill $funcs (i32.const 0) (ref.null func) (i32.const -1))))
    (if (i32.eq (local.get $verb) (i32.const 99))  ;; c
      (then (table.copy $funcs $other (i32.const 0) (i32.const 0) (i32.const -1))))
    (if (i32.eq (local.get $verb) (i32.const 105))  ;; i
      (then (table.init $funcs $segment (i32.const 0) (i32.const 0) (i32.const -1))))
    (i32.const 0)))
