;; Lifted functions over strings (UTF-8): a component export whose values
;; pass through the canonical ABI with the core module's memory and realloc.
;;
;;   greet: func(name: string) -> string         "Hello, " + name + "!"
;;   count-bytes: func(s: string) -> u32         the length in UTF-8 bytes
;;   upper: func(s: string) -> string            ASCII letters upper-cased, others kept
;;
;; Strings returned are written by a bump allocator; the post-return function
;; of each string result is called after the caller has read the result.
(component
  (core module $m
    (memory (export "memory") 1)
    ;; Bump allocator from 1024 up; memory grows as needed.
    (global $next (mut i32) (i32.const 1024))
    (global $post_returns (mut i32) (i32.const 0))
    (func $realloc (export "realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $at i32)
      ;; align up
      (local.set $at
        (i32.and (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (global.set $next (i32.add (local.get $at) (local.get $size)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $next)
                               (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow
          (i32.add (i32.div_u (i32.sub (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
                              (i32.const 65536))
                   (i32.const 1)))))
      (if (local.get $old_size)
        (then (memory.copy (local.get $at) (local.get $old) (local.get $old_size))))
      (local.get $at))
    ;; The result area: a (pointer, length) pair at 8.
    (func $return_string (param $ptr i32) (param $len i32) (result i32)
      (i32.store (i32.const 8) (local.get $ptr))
      (i32.store (i32.const 12) (local.get $len))
      (i32.const 8))
    (data (i32.const 16) "Hello, !")
    (func (export "greet") (param $ptr i32) (param $len i32) (result i32)
      (local $out i32)
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1)
                                     (i32.add (local.get $len) (i32.const 8))))
      (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
      (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $ptr) (local.get $len))
      (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 7)) (local.get $len)) (i32.const 33))
      (call $return_string (local.get $out) (i32.add (local.get $len) (i32.const 8))))
    (func (export "count-bytes") (param $ptr i32) (param $len i32) (result i32)
      (local.get $len))
    (func (export "upper") (param $ptr i32) (param $len i32) (result i32)
      (local $out i32) (local $i i32) (local $c i32)
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $len)))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
            (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
          (i32.store8 (i32.add (local.get $out) (local.get $i)) (local.get $c))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      (call $return_string (local.get $out) (local.get $len)))
    ;; After a string result was read: count the call (the allocator keeps its memory).
    (func (export "post-return-string") (param i32)
      (global.set $post_returns (i32.add (global.get $post_returns) (i32.const 1))))
    (func (export "post-returns") (result i32) (global.get $post_returns)))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $memory))
  (alias core export $i "realloc" (core func $realloc))

  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $i "greet") (memory $memory) (realloc (core func $realloc)) string-encoding=utf8
      (post-return (core func $i "post-return-string"))))
  (func (export "count-bytes") (param "s" string) (result u32)
    (canon lift (core func $i "count-bytes") (memory $memory) (realloc (core func $realloc)) string-encoding=utf8))
  (func (export "upper") (param "s" string) (result string)
    (canon lift (core func $i "upper") (memory $memory) (realloc (core func $realloc)) string-encoding=utf8
      (post-return (core func $i "post-return-string"))))
  (func (export "post-returns") (result u32)
    (canon lift (core func $i "post-returns"))))
