;; A component that calls one host function through `canon lower` twice: with
;; UTF-8 strings and with UTF-16 ones (tests/cm/typed_test.cpp defines the
;; function with C++ types, cm/typed.hpp). The caller of an export names the
;; memory the host function reads, so that a test can also pass strings that
;; are not UTF-8, ranges past the end of memory and bad enum cases.
;;
;;   note: func(text: string, data: list<u8>, level: level) -> result<u64, err>
;;
;;   call8 / call16: func(text-ptr: u32, text-len: u32, data-ptr: u32,
;;                        data-len: u32, level: u32) -> s64
;;     the ok value, or -1 - the error case
;;   note: the host function itself, re-exported (called with values)
;;
;; Memory: "héllo" in UTF-8 at 100 (6 bytes), in UTF-16LE at 200 (5 units),
;; the bytes ff fe (not UTF-8) at 300, the bytes 1 2 3 at 400, "deny" at 500.
(component
  (type $err (variant (case "denied") (case "full")))
  (import "err" (type $err-t (eq $err)))
  (type $level (enum "low" "high"))
  (import "level" (type $level-t (eq $level)))
  (type $note-t (func (param "text" string) (param "data" (list u8)) (param "level" $level-t)
                      (result (result u64 (error $err-t)))))
  (import "note" (func $note (type $note-t)))
  (core module $mem
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (data (i32.const 100) "h\c3\a9llo")
    (data (i32.const 200) "h\00\e9\00l\00l\00o\00")
    (data (i32.const 300) "\ff\fe")
    (data (i32.const 400) "\01\02\03")
    (data (i32.const 500) "deny"))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
  (core func $note8 (canon lower (func $note) (memory $memory) (realloc $realloc)))
  (core func $note16 (canon lower (func $note) (memory $memory) (realloc $realloc)
                      string-encoding=utf16))
  (core module $m
    (import "mem" "memory" (memory 1))
    (import "host" "note8" (func $note8 (param i32 i32 i32 i32 i32 i32)))
    (import "host" "note16" (func $note16 (param i32 i32 i32 i32 i32 i32)))
    ;; The result at 64: the case byte, then the u64 or the error's case at 72.
    (func $answer (result i64)
      (if (result i64) (i32.load8_u (i32.const 64))
        (then (i64.sub (i64.const -1) (i64.load8_u (i32.const 72))))
        (else (i64.load (i32.const 72)))))
    (func (export "call8") (param i32 i32 i32 i32 i32) (result i64)
      (call $note8 (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                   (i32.const 64))
      (call $answer))
    (func (export "call16") (param i32 i32 i32 i32 i32) (result i64)
      (call $note16 (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                    (i32.const 64))
      (call $answer)))
  (core instance $i (instantiate $m
    (with "mem" (instance $mem))
    (with "host" (instance (export "note8" (func $note8)) (export "note16" (func $note16))))))
  (type $call-t (func (param "text-ptr" u32) (param "text-len" u32) (param "data-ptr" u32)
                      (param "data-len" u32) (param "level" u32) (result s64)))
  (func (export "call8") (type $call-t) (canon lift (core func $i "call8")))
  (func (export "call16") (type $call-t) (canon lift (core func $i "call16")))
  (export "note" (func $note))
)
