;; Imports a host function that does not exist: the component must not start.
(module
  (import "airssys" "spawn_shell" (func $spawn (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "airssys_init") (param i32 i32) (result i32)
    (call $spawn (i32.const 0) (i32.const 0))))
