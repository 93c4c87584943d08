;; A component whose handler grows its table on every message: its state is
;; more than its memory and globals, so it cannot move to another instance
;; (tier-up refuses it and the component stays where it runs).
(module
  (memory (export "memory") 1)
  (table 1 funcref)
  (global $count (mut i32) (i32.const 0))
  (func (export "airssys_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "airssys_handle_message")
    (param i32 i64 i32 i32 i32 i32 i32 i32) (result i32)
    global.get $count i32.const 1 i32.add global.set $count
    (drop (table.grow 0 (ref.null func) (i32.const 1)))
    i32.const 0))
