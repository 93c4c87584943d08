;; A reactor component whose init traps every time it starts: the supervisor
;; restarts it with back-off until the restart intensity gives up.
(module
  (memory (export "memory") 1)
  (func (export "airssys_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "airssys_init") (param i32 i32) (result i32) unreachable))
