;; Asks for a table of 100 million entries: the component must not start.
(module
  (table 100000000 funcref)
  (memory (export "memory") 1)
  (func (export "airssys_init") (param i32 i32) (result i32) (i32.const 0)))
