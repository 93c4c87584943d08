;; Traps in its start function, before _start could run.
(module
  (func $boom i32.const 1 i32.const 0 i32.div_u drop)
  (start $boom)
  (func (export "_start"))
  (memory (export "memory") 1))
