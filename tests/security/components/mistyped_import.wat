;; Imports airssys.send with a signature of its own choosing (i64 pointers),
;; hoping the host reads its arguments as something else: the component must
;; not start.
(module
  (import "airssys" "send" (func $send (param i64 i64 i64 i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "airssys_init") (param i32 i32) (result i32)
    (call $send (i64.const -1) (i64.const -1) (i64.const -1) (i64.const -1))))
