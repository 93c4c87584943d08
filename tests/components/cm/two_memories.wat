;; Two core modules, each with a memory of its own (1 page to start), and a
;; lifted `grow` for each: memory.grow's answer (the old size in pages, or -1).
;; The memory quota is one budget for both.
;;
;;   grow-a: func(pages: u32) -> s32
;;   grow-b: func(pages: u32) -> s32
;;   grow-c: func(pages: u32) -> s32   a third instance growing a's memory,
;;                                     which it imports
(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "grow") (param $pages i32) (result i32)
      (memory.grow (local.get $pages))))
  (core instance $a (instantiate $m))
  (core instance $b (instantiate $m))
  (func (export "grow-a") (param "pages" u32) (result s32)
    (canon lift (core func $a "grow")))
  (func (export "grow-b") (param "pages" u32) (result s32)
    (canon lift (core func $b "grow")))
  (core module $g
    (import "a" "memory" (memory 1))
    (func (export "grow") (param $pages i32) (result i32)
      (memory.grow (local.get $pages))))
  (core instance $c (instantiate $g (with "a" (instance $a))))
  (func (export "grow-c") (param "pages" u32) (result s32)
    (canon lift (core func $c "grow"))))
