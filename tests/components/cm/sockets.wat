;; A component that asks WASI 0.2 for a TCP socket, as a program built for
;; wasi:sockets would, at version 0.2.0 of the interfaces:
;;
;;   import wasi:sockets/tcp@0.2.0;                 resource tcp-socket
;;   import wasi:sockets/tcp-create-socket@0.2.0;   create-tcp-socket
;;   export try-connect: func() -> u32;
;;
;; try-connect returns the case index of the error-code create-tcp-socket
;; answered with (access-denied is 1), or 100 when it gave a socket.
(component
  (import "wasi:sockets/tcp@0.2.0" (instance $tcp
    (export "tcp-socket" (type (sub resource)))))
  (alias export $tcp "tcp-socket" (type $tcp-socket))
  (import "wasi:sockets/tcp-create-socket@0.2.0" (instance $create
    (alias outer 1 $tcp-socket (type $socket))
    (export "tcp-socket" (type $sock (eq $socket)))
    (type $code (enum "unknown" "access-denied" "not-supported" "invalid-argument"
      "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress" "would-block"
      "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use"
      "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted"
      "datagram-too-large" "name-unresolvable" "temporary-resolver-failure"
      "permanent-resolver-failure"))
    (export "error-code" (type $error-code (eq $code)))
    (type $family (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type $ip-address-family (eq $family)))
    (type $own (own $sock))
    (type $result (result $own (error $error-code)))
    (export "create-tcp-socket"
      (func (param "address-family" $ip-address-family) (result $result)))))
  (alias export $create "create-tcp-socket" (func $create-tcp-socket))

  (core module $memory (memory (export "memory") 1))
  (core instance $mi (instantiate $memory))
  (alias core export $mi "memory" (core memory $mem))
  (core func $create-lowered (canon lower (func $create-tcp-socket) (memory $mem)))

  (core module $main
    (import "env" "memory" (memory 1))
    (import "env" "create" (func $create (param i32 i32)))
    (func (export "try-connect") (result i32)
      ;; ipv4; the result at 16: the discriminant byte, the payload at 20.
      (call $create (i32.const 0) (i32.const 16))
      (if (result i32) (i32.load8_u (i32.const 16))
        (then (i32.load8_u (i32.const 20)))
        (else (i32.const 100)))))
  (core instance $m (instantiate $main
    (with "env" (instance
      (export "memory" (memory $mem))
      (export "create" (func $create-lowered))))))
  (func (export "try-connect") (result u32) (canon lift (core func $m "try-connect"))))
