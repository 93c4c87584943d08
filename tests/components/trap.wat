;; A command whose _start traps three calls deep.
(module
  (func $innermost unreachable)
  (func $middle call $innermost)
  (func $_start (export "_start") call $middle)
  (memory (export "memory") 1))
