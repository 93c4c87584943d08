;; Lifted functions over records, lists and options in an exported interface
;; (an instance made of inline exports), with results that spill to memory
;; (more than one flat value) and lists read from and written to the core
;; module's memory.
;;
;;   interface airssys:test/records {
;;     record point { x: s32, y: s32 }
;;     sum: func(points: list<point>) -> point         the sum of all points
;;     scale: func(p: point, k: s32) -> point           both coordinates times k
;;     reverse: func(xs: list<u32>) -> list<u32>        the same values, last first
;;     find: func(points: list<point>, x: s32) -> option<u32>
;;                                                      index of the first point with that x
;;   }
(component
  (core module $m
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func $realloc (export "realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $at i32)
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
    ;; Results are written at 16 (at most 8 bytes, 4-aligned) and returned by address.
    (func (export "sum") (param $ptr i32) (param $len i32) (result i32)
      (local $i i32) (local $x i32) (local $y i32) (local $at i32)
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $at (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 3))))
          (local.set $x (i32.add (local.get $x) (i32.load (local.get $at))))
          (local.set $y (i32.add (local.get $y) (i32.load offset=4 (local.get $at))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      (i32.store (i32.const 16) (local.get $x))
      (i32.store (i32.const 20) (local.get $y))
      (i32.const 16))
    (func (export "scale") (param $x i32) (param $y i32) (param $k i32) (result i32)
      (i32.store (i32.const 16) (i32.mul (local.get $x) (local.get $k)))
      (i32.store (i32.const 20) (i32.mul (local.get $y) (local.get $k)))
      (i32.const 16))
    (func (export "reverse") (param $ptr i32) (param $len i32) (result i32)
      (local $out i32) (local $i i32)
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 4)
                                     (i32.shl (local.get $len) (i32.const 2))))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (i32.store
            (i32.add (local.get $out)
                     (i32.shl (i32.sub (i32.sub (local.get $len) (i32.const 1)) (local.get $i))
                              (i32.const 2)))
            (i32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      (i32.store (i32.const 16) (local.get $out))
      (i32.store (i32.const 20) (local.get $len))
      (i32.const 16))
    (func (export "find") (param $ptr i32) (param $len i32) (param $x i32) (result i32)
      (local $i i32)
      ;; none: discriminant 0
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.const 0))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (if (i32.eq (i32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 3))))
                      (local.get $x))
            (then
              (i32.store (i32.const 16) (i32.const 1))
              (i32.store (i32.const 20) (local.get $i))
              (br $done)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      (i32.const 16)))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $memory))
  (alias core export $i "realloc" (core func $realloc))

  (type $point (record (field "x" s32) (field "y" s32)))
  (func $sum (param "points" (list $point)) (result $point)
    (canon lift (core func $i "sum") (memory $memory) (realloc (core func $realloc))))
  (func $scale (param "p" $point) (param "k" s32) (result $point)
    (canon lift (core func $i "scale") (memory $memory)))
  (func $reverse (param "xs" (list u32)) (result (list u32))
    (canon lift (core func $i "reverse") (memory $memory) (realloc (core func $realloc))))
  (func $find (param "points" (list $point)) (param "x" s32) (result (option u32))
    (canon lift (core func $i "find") (memory $memory) (realloc (core func $realloc))))
  (instance $api
    (export "point" (type $point))
    (export "sum" (func $sum))
    (export "scale" (func $scale))
    (export "reverse" (func $reverse))
    (export "find" (func $find)))
  (export "airssys:test/records" (instance $api)))
