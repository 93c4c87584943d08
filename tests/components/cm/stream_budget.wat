;; A component that writes to stdout through wasi:io/streams as a WASI 0.2
;; program does: check-write for the permit, then write.
;;
;;   export write-bytes: func(n: u32) -> u32;
;;
;; write-bytes asks check-write, then writes n bytes ('x') in one write; it
;; returns the write's result discriminant (0: ok). Writing more than the
;; permit is the guest's error, which the host turns into a trap.
(component
  (import "wasi:io/error@0.2.0" (instance $error
    (export "error" (type (sub resource)))))
  (alias export $error "error" (type $error-type))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (alias outer 1 $error-type (type $e))
    (export "error" (type $err (eq $e)))
    (export "output-stream" (type $out (sub resource)))
    (type $own-err (own $err))
    (type $stream-error-def (variant (case "last-operation-failed" $own-err) (case "closed")))
    (export "stream-error" (type $stream-error (eq $stream-error-def)))
    (type $self (borrow $out))
    (type $bytes (list u8))
    (type $check-result (result u64 (error $stream-error)))
    (type $write-result (result (error $stream-error)))
    (export "[method]output-stream.check-write"
      (func (param "self" $self) (result $check-result)))
    (export "[method]output-stream.write"
      (func (param "self" $self) (param "contents" $bytes) (result $write-result)))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type $o))
    (export "output-stream" (type $out (eq $o)))
    (type $own-out (own $out))
    (export "get-stdout" (func (result $own-out)))))
  (alias export $stdout "get-stdout" (func $get-stdout))
  (alias export $streams "[method]output-stream.check-write" (func $check-write))
  (alias export $streams "[method]output-stream.write" (func $write))

  (core module $memory (memory (export "memory") 2))
  (core instance $mi (instantiate $memory))
  (alias core export $mi "memory" (core memory $mem))
  (core func $get-stdout-lowered (canon lower (func $get-stdout)))
  (core func $check-write-lowered (canon lower (func $check-write) (memory $mem)))
  (core func $write-lowered (canon lower (func $write) (memory $mem)))

  (core module $main
    (import "env" "memory" (memory 2))
    (import "env" "get-stdout" (func $get-stdout (result i32)))
    (import "env" "check-write" (func $check-write (param i32 i32)))
    (import "env" "write" (func $write (param i32 i32 i32 i32)))
    (func (export "write-bytes") (param $n i32) (result i32)
      (local $out i32)
      (local.set $out (call $get-stdout))
      (call $check-write (local.get $out) (i32.const 16))
      ;; the bytes at 1024, the memory grown to hold them
      (if (i32.gt_u (i32.add (local.get $n) (i32.const 1024))
                    (i32.mul (memory.size) (i32.const 65536)))
        (then (drop (memory.grow (i32.add (i32.div_u (local.get $n) (i32.const 65536))
                                          (i32.const 1))))))
      (memory.fill (i32.const 1024) (i32.const 120) (local.get $n))
      (call $write (local.get $out) (i32.const 1024) (local.get $n) (i32.const 32))
      (i32.load8_u (i32.const 32))))
  (core instance $m (instantiate $main
    (with "env" (instance
      (export "memory" (memory $mem))
      (export "get-stdout" (func $get-stdout-lowered))
      (export "check-write" (func $check-write-lowered))
      (export "write" (func $write-lowered))))))
  (func (export "write-bytes") (param "n" u32) (result u32)
    (canon lift (core func $m "write-bytes"))))
