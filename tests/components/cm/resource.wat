;; A resource type defined and exported by a component, with a destructor:
;; own and borrow handles through lifted functions, resource.new, resource.rep
;; and resource.drop, in an exported interface.
;;
;;   interface airssys:test/counters {
;;     resource counter {
;;       constructor(start: u32);
;;       increment: func(by: u32) -> u32;     the new value
;;       value: func() -> u32;
;;       consume: static func(c: counter) -> u32;   its value; the handle is dropped
;;     }
;;     dropped: func() -> u32;                 destructor calls so far
;;   }
;;
;; A counter's representation is the address of its 4-byte cell in memory.
(component
  ;; The state: memory, the cells, and the destructor (it runs before the
  ;; resource type can be defined, so it lives in its own module).
  (core module $state
    (memory (export "memory") 1)
    (global $dropped (mut i32) (i32.const 0))
    (func (export "dtor") (param $rep i32)
      (i32.store (local.get $rep) (i32.const 0))
      (global.set $dropped (i32.add (global.get $dropped) (i32.const 1))))
    (func (export "dropped") (result i32) (global.get $dropped)))
  (core instance $s (instantiate $state))
  (alias core export $s "memory" (core memory $memory))

  (type $counter (resource (rep i32) (dtor (core func $s "dtor"))))
  (core func $new (canon resource.new $counter))
  (core func $rep (canon resource.rep $counter))
  (core func $drop (canon resource.drop $counter))

  (core module $ops
    (import "state" "memory" (memory 1))
    (import "state" "new" (func $new (param i32) (result i32)))
    (import "state" "rep" (func $rep (param i32) (result i32)))
    (import "state" "drop" (func $drop (param i32)))
    (global $next (mut i32) (i32.const 64))
    (func (export "constructor") (param $start i32) (result i32)
      (local $cell i32)
      (local.set $cell (global.get $next))
      (global.set $next (i32.add (global.get $next) (i32.const 4)))
      (i32.store (local.get $cell) (local.get $start))
      (call $new (local.get $cell)))
    ;; A borrow of a resource this component defines arrives as its representation.
    (func (export "increment") (param $self i32) (param $by i32) (result i32)
      (i32.store (local.get $self) (i32.add (i32.load (local.get $self)) (local.get $by)))
      (i32.load (local.get $self)))
    (func (export "value") (param $self i32) (result i32)
      (i32.load (local.get $self)))
    ;; An owned handle arrives as a handle of this instance's table.
    (func (export "consume") (param $handle i32) (result i32)
      (local $value i32)
      (local.set $value (i32.load (call $rep (local.get $handle))))
      (call $drop (local.get $handle))
      (local.get $value)))
  (core instance $o (instantiate $ops
    (with "state" (instance
      (export "memory" (memory $memory))
      (export "new" (func $new))
      (export "rep" (func $rep))
      (export "drop" (func $drop))))))

  (func $constructor (param "start" u32) (result (own $counter))
    (canon lift (core func $o "constructor")))
  (func $increment (param "self" (borrow $counter)) (param "by" u32) (result u32)
    (canon lift (core func $o "increment")))
  (func $value (param "self" (borrow $counter)) (result u32)
    (canon lift (core func $o "value")))
  (func $consume (param "c" (own $counter)) (result u32)
    (canon lift (core func $o "consume")))
  (func $dropped (result u32)
    (canon lift (core func $s "dropped")))
  ;; A nested component gives the resource and the functions their names in
  ;; the exported interface, as component tooling lays such an export out.
  (component $interface
    (import "import-type-counter" (type $c (sub resource)))
    (import "import-constructor-counter" (func $constructor (param "start" u32) (result (own $c))))
    (import "import-method-counter-increment"
      (func $increment (param "self" (borrow $c)) (param "by" u32) (result u32)))
    (import "import-method-counter-value" (func $value (param "self" (borrow $c)) (result u32)))
    (import "import-static-counter-consume" (func $consume (param "c" (own $c)) (result u32)))
    (import "import-func-dropped" (func $dropped (result u32)))
    (export $counter "counter" (type $c))
    (export "[constructor]counter" (func $constructor)
      (func (param "start" u32) (result (own $counter))))
    (export "[method]counter.increment" (func $increment)
      (func (param "self" (borrow $counter)) (param "by" u32) (result u32)))
    (export "[method]counter.value" (func $value)
      (func (param "self" (borrow $counter)) (result u32)))
    (export "[static]counter.consume" (func $consume)
      (func (param "c" (own $counter)) (result u32)))
    (export "dropped" (func $dropped) (func (result u32))))
  (instance $api (instantiate $interface
    (with "import-type-counter" (type $counter))
    (with "import-constructor-counter" (func $constructor))
    (with "import-method-counter-increment" (func $increment))
    (with "import-method-counter-value" (func $value))
    (with "import-static-counter-consume" (func $consume))
    (with "import-func-dropped" (func $dropped))))
  (export "airssys:test/counters" (instance $api)))
