#!/usr/bin/env python3
# Prints the byte layouts and flat values that tests/cm/canonical_test.cpp
# expects, computed by the specification's executable definitions
# (component-model-testsuite/spec/definitions.py). Run:
#   python3 tests/cm/canonical_reference.py ../shared/component-model-testsuite/spec
# The realloc is the bump allocator of the specification's run_tests.py, the
# same one the C++ tests use (BumpHeap).
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "spec")
import definitions
from definitions import *

definitions.DETERMINISTIC_PROFILE = True


class Heap:
    """Bump allocator: a shrinking realloc stays in place, a growing one
    takes fresh space and copies the old bytes."""

    def __init__(self, size):
        self.memory = bytearray(size)
        self.last_alloc = 0

    def realloc(self, args):
        old, old_size, align, new_size = args
        if old != 0 and new_size < old_size:
            return [align_to(old, align)]
        ret = align_to(self.last_alloc, align)
        self.last_alloc = ret + new_size
        if self.last_alloc > len(self.memory):
            trap()
        self.memory[ret:ret + old_size] = self.memory[old:old + old_size]
        return [ret]


def mk_cx(memory, encoding, realloc):
    opts = CanonicalOptions()
    opts.memory = memory
    opts.string_encoding = encoding
    opts.realloc = realloc
    return LiftLowerContext(opts, ComponentInstance(Store()))


def mk_str(s):
    return (s, "utf8", len(s.encode("utf-8")))


def run(name, t, v, encoding="utf8", size=96, flat=False):
    heap = Heap(size)
    cx = mk_cx(MemInst(heap.memory, "i32"), encoding, heap.realloc)
    if flat:
        out = lower_flat(cx, v, t)
        print(name, "flat", [hex(x) if isinstance(x, int) else x for x in out])
    else:
        heap.last_alloc = elem_size(t, "i32")
        store(cx, v, t, 0)
    used = heap.last_alloc
    print(name, "mem", heap.memory[:used].hex())


rec = RecordType([FieldType("a", U8Type()), FieldType("b", U16Type()),
                  FieldType("c", U64Type()), FieldType("d", BoolType())])
run("record", rec, {"a": 0xAB, "b": 0x1234, "c": 0x0102030405060708, "d": True})

var = VariantType([CaseType("a", U8Type()), CaseType("b", F32Type()),
                   CaseType("c", U64Type()), CaseType("d", None)])
run("variant-f32", var, {"b": 1.5}, flat=True)
run("variant-f32", var, {"b": 1.5})

run("utf16", StringType(), mk_str("hö☃🍰"), encoding="utf16")
run("latin1", StringType(), mk_str("hö!"), encoding="latin1+utf16")
run("latin1-utf16", StringType(), mk_str("hö☃🍰"), encoding="latin1+utf16")
run("utf8", StringType(), mk_str("hö☃"), encoding="utf8")

lst = ListType(TupleType([U8Type(), StringType()]))
run("list-tuple", lst, [{"0": 1, "1": mk_str("ab")}, {"0": 2, "1": mk_str("c")}])

flags = FlagsType([f"f{i}" for i in range(12)])
run("flags12", flags, {f"f{i}": i in (0, 3, 11) for i in range(12)})

opt = OptionType(ResultType(U32Type(), StringType()))
run("option-result", opt, {"some": {"error": mk_str("no")}})
run("option-result", opt, {"some": {"error": mk_str("no")}}, flat=True)
