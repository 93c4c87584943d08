// The native tier's C glue (native_codegen.hpp): the patches of wasm2c's
// output for this runtime, and the C between the compiled module and the host
// (the imports' functions, the exports' thunks, the code map of backtraces,
// the module's descriptor).

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "metering.hpp"
#include "native_codegen.hpp"

namespace airssys::wasm::engine::detail {
namespace {

// Around every call into the host the fuel goes from its register to the
// store's cell and back: the fuel function reads and refills it there, and
// a host function may call into the store again (HostCall::call), whose
// compiled code takes the fuel from the cell and leaves what is left there.
constexpr std::string_view kFuelToCell =
    "  { airssys_call_ctx* ctx_ = airssys_ctx_of(airssys_stack_pointer()); (void)ctx_;\n"
    "    AIRSSYS_FUEL_SAVE(ctx_); }\n";
constexpr std::string_view kFuelFromCell =
    "  { airssys_call_ctx* ctx_ = airssys_ctx_of(airssys_stack_pointer()); (void)ctx_;\n"
    "    AIRSSYS_FUEL_LOAD(ctx_); }\n";

bool numbers_only(const FuncSig& sig) {
  auto number = [](ValType t) {
    return t == ValType::I32 || t == ValType::I64 || t == ValType::F32 || t == ValType::F64;
  };
  return std::all_of(sig.params.begin(), sig.params.end(), number) &&
         std::all_of(sig.results.begin(), sig.results.end(), number);
}


// C spelling of a value type, the slot field holding it, and its letter in
// wasm2c's multi-value struct names.
const char* c_type(ValType t) {
  switch (t) {
    case ValType::I32: return "u32";
    case ValType::I64: return "u64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::FuncRef: return "wasm_rt_funcref_t";
    case ValType::ExternRef: return "wasm_rt_externref_t";
    case ValType::V128: break;
  }
  return "void";
}
const char* slot_field(ValType t) {
  switch (t) {
    case ValType::I32: return "i32";
    case ValType::I64: return "i64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::FuncRef: return "funcref";
    case ValType::ExternRef: return "externref";
    case ValType::V128: break;
  }
  return "i32";
}
char multi_letter(ValType t) {
  switch (t) {
    case ValType::I32: return 'i';
    case ValType::I64: return 'j';
    case ValType::F32: return 'f';
    case ValType::F64: return 'd';
    case ValType::FuncRef: return 'r';
    case ValType::ExternRef: return 'e';
    case ValType::V128: break;
  }
  return '?';
}

std::string return_type(const FuncSig& sig) {
  if (sig.results.empty()) return "void";
  if (sig.results.size() == 1) return c_type(sig.results[0]);
  std::string name = "struct wasm_multi_";
  for (auto t : sig.results) name += multi_letter(t);
  return name;
}

// "T0 a0, T1 a1" (with a leading ", " when `leading`).
std::string param_list(const FuncSig& sig, bool leading) {
  std::string out;
  for (size_t i = 0; i < sig.params.size(); ++i) {
    if (leading || i) out += ", ";
    out += fmt::format("{} a{}", c_type(sig.params[i]), i);
  }
  return out;
}

std::string arg_list(const FuncSig& sig, std::string_view prefix) {
  std::string out;
  for (size_t i = 0; i < sig.params.size(); ++i) out += fmt::format(", {}{}", prefix, i);
  return out;
}

std::string result_field(const FuncSig& sig, size_t i) {
  return fmt::format("{}{}", multi_letter(sig.results[i]), i);
}

// Replaces exactly one occurrence, or fails: the generated text is fixed by
// the wabt version, so a miss means a wasm2c this code was not written for.
Result<void> replace_once(std::string& text, std::string_view from, std::string_view to) {
  auto at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("native tier: wasm2c output differs from the expected form "
                                  "(looking for '{}')",
                                  from.substr(0, 40)));
  }
  text.replace(at, from.size(), to);
  return {};
}

constexpr std::string_view kCallIndirectFrom = R"(#define CALL_INDIRECT(table, t, ft, x, ...)             \
  (LIKELY((x) < table.size && table.data[x].func &&     \
          table.data[x].func_type == func_types[ft]) || \
       TRAP(CALL_INDIRECT),                             \
   ((t)table.data[x].func)(__VA_ARGS__)))";

constexpr std::string_view kCallIndirectTo = R"(#define CALL_INDIRECT(table, t, ft, x, ...)                          \
  ((UNLIKELY((x) >= table.size) ? TRAP(TABLE_OOB) : 0),                \
   (UNLIKELY(!table.data[x].func) ? TRAP(UNINIT_ELEM) : 0),            \
   (UNLIKELY(table.data[x].func_type != func_types[ft]) ? TRAP(SIG_MISMATCH) : 0), \
   ((t)table.data[x].func)(__VA_ARGS__)))";

constexpr std::string_view kPrologueFrom = "#else\n#define FUNC_PROLOGUE\n";
constexpr std::string_view kPrologueTo =
    "#else\n#define FUNC_PROLOGUE                                                  \\\n"
    "  if (UNLIKELY((airssys_stack_pointer() & (AIRSSYS_STACK_SIZE - 1)) <         \\\n"
    "               AIRSSYS_STACK_RESERVE))                                        \\\n"
    "    TRAP(EXHAUSTION)\n";

constexpr std::string_view kTableHelpersStart = "typedef struct {\n  uint32_t func_type_index;";
constexpr std::string_view kTableHelpersEnd = "static bool s_module_initialized";

// The imports' C functions. A typed host function's fast path goes to
// `shared` (the header every unit includes) as a static function that the
// module's calls name through a macro, so the C compiler may inline it in
// every unit; everything else goes to `out` (the glue's unit).
std::string import_glue(const NativePlan& plan, std::string& shared) {
  std::string out;
  for (size_t k = 0; k < plan.imports.size(); ++k) {
    const auto& imp = plan.imports[k];
    const std::string fn = fmt::format("Z_aZ_i{}", k);
    const std::string items = fmt::format("((airssys_imports*)p_)->self->items[{}]", k);
    switch (imp.kind) {
      case ExternKind::Func: {
        const auto& sig = imp.sig;
        std::string ret = return_type(sig);
        const bool direct = imp.module != kReservedModule && numbers_only(sig);
        // A typed host function (host_function<F>()) is called straight
        // from the import's function, its arguments in registers; everything
        // else that import may be is out of line, so the C compiler may
        // inline the import's function where the guest calls it.
        const bool typed = direct && sig.results.size() <= 1;
        std::string typed_fn;
        if (typed) {
          typed_fn += fmt::format("static {} airssys_import_{}(struct Z_a_instance_t* p_{}) {{\n",
                                  ret, k, param_list(sig, true));
          typed_fn += "  airssys_imports* im_ = ((airssys_imports*)p_)->self;\n";
          std::string types, args;
          for (size_t i = 0; i < sig.params.size(); ++i) {
            types += fmt::format(", {}", c_type(sig.params[i]));
            args += fmt::format(", a{}", i);
          }
          typed_fn += fmt::format("  if (im_->items[{}].typed != NULL) {{\n", k);
          typed_fn += "    void* err_ = NULL;\n";
          std::string call = fmt::format(
              "(({} (*)(void*, void**{}))im_->items[{}].typed)(im_->items[{}].call, &err_{})", ret,
              types, k, k, args);
          typed_fn += kFuelToCell;
          if (sig.results.empty()) {
            typed_fn += fmt::format("    {};\n", call);
          } else {
            typed_fn += fmt::format("    {} r_ = {};\n", ret, call);
          }
          typed_fn += kFuelFromCell;
          typed_fn += "    if (UNLIKELY(err_ != NULL)) {\n"
                      "      airssys_host->raise_error(im_->host_instance, err_);\n"
                      "      wasm_rt_trap(WASM_RT_TRAP_HOST);\n    }\n";
          typed_fn += sig.results.empty() ? "    return;\n  }\n" : "    return r_;\n  }\n";
          typed_fn += fmt::format("  {}{}_other(p_{});\n}}\n",
                                  sig.results.empty() ? "" : "return ", fn, arg_list(sig, "a"));
        }
        if (typed) {
          shared += fmt::format("{} {}_other(struct Z_a_instance_t* p_{});\n", ret, fn,
                                param_list(sig, true));
        }
        out += fmt::format("{}{} {}{}(struct Z_a_instance_t* p_{}) {{\n",
                           typed ? "__attribute__((noinline)) " : "", ret, fn,
                           typed ? "_other" : "", param_list(sig, true));
        out += "  airssys_imports* im_ = ((airssys_imports*)p_)->self;\n";
        out += fmt::format("  if (im_->items[{}].instance) {{\n", k);
        std::string fptr = fmt::format("(({} (*)(void*{}))im_->items[{}].pointer)", ret,
                                       [&] {
                                         std::string s;
                                         for (auto t : sig.params) s += fmt::format(", {}", c_type(t));
                                         return s;
                                       }(),
                                       k);
        if (sig.results.empty()) {
          out += fmt::format("    {}(im_->items[{}].instance{});\n    return;\n  }}\n", fptr, k,
                             arg_list(sig, "a"));
        } else {
          out += fmt::format("    return {}(im_->items[{}].instance{});\n  }}\n", fptr, k,
                             arg_list(sig, "a"));
        }
        if (direct) {
          // Any other host function: raw 64-bit slots, no dispatch.
          out += fmt::format("  uint64_t args_[{}];\n  uint64_t res_[{}] = {{0}};\n",
                             std::max<size_t>(1, sig.params.size()),
                             std::max<size_t>(1, sig.results.size()));
          for (size_t i = 0; i < sig.params.size(); ++i) {
            switch (sig.params[i]) {
              case ValType::F32:
                out += fmt::format("  {{ uint32_t b_; memcpy(&b_, &a{0}, 4); args_[{0}] = b_; }}\n", i);
                break;
              case ValType::F64:
                out += fmt::format("  memcpy(&args_[{0}], &a{0}, 8);\n", i);
                break;
              default:
                out += fmt::format("  args_[{0}] = (uint64_t)a{0};\n", i);
                break;
            }
          }
          out += kFuelToCell;
          out += fmt::format(
              "  int failed_ = ((airssys_host_fn)im_->items[{0}].pointer)(im_->items[{0}].host, "
              "args_, res_);\n",
              k);
          out += kFuelFromCell;
          out += "  if (UNLIKELY(failed_)) wasm_rt_trap(WASM_RT_TRAP_HOST);\n";
          auto result = [&](size_t i) -> std::string {
            switch (sig.results[i]) {
              case ValType::F32:
                return fmt::format("({{ uint32_t b_ = (uint32_t)res_[{0}]; f32 v_; memcpy(&v_, &b_, 4); v_; }})", i);
              case ValType::F64:
                return fmt::format("({{ f64 v_; memcpy(&v_, &res_[{0}], 8); v_; }})", i);
              case ValType::I32: return fmt::format("(u32)res_[{}]", i);
              default: return fmt::format("res_[{}]", i);
            }
          };
          if (sig.results.size() == 1) {
            out += fmt::format("  return {};\n", result(0));
          } else if (sig.results.size() > 1) {
            out += fmt::format("  {} r_;\n", ret);
            for (size_t i = 0; i < sig.results.size(); ++i) {
              out += fmt::format("  r_.{} = {};\n", result_field(sig, i), result(i));
            }
            out += "  return r_;\n";
          }
          out += "}\n";
          if (typed) {
            shared += typed_fn;
            shared += fmt::format("#define {} airssys_import_{}\n", fn, k);
          }
          break;
        }
        size_t slots = std::max<size_t>({1, sig.params.size(), sig.results.size()});
        out += fmt::format("  airssys_slot io_[{}];\n", slots);
        for (size_t i = 0; i < sig.params.size(); ++i) {
          out += fmt::format("  io_[{}].{} = a{};\n", i, slot_field(sig.params[i]), i);
        }
        out += kFuelToCell;
        out += fmt::format(
            "  int failed_ = airssys_host->call_import(im_->host_instance, {}, io_);\n", k);
        out += kFuelFromCell;
        out += "  if (failed_) wasm_rt_trap(WASM_RT_TRAP_HOST);\n";
        if (sig.results.size() == 1) {
          out += fmt::format("  return io_[0].{};\n", slot_field(sig.results[0]));
        } else if (sig.results.size() > 1) {
          out += fmt::format("  {} r_;\n", ret);
          for (size_t i = 0; i < sig.results.size(); ++i) {
            out += fmt::format("  r_.{} = io_[{}].{};\n", result_field(sig, i), i,
                               slot_field(sig.results[i]));
          }
          out += "  return r_;\n";
        }
        out += "}\n";
        break;
      }
      case ExternKind::Global:
        out += fmt::format("{0}* {1}(struct Z_a_instance_t* p_) {{ return ({0}*){2}.pointer; }}\n",
                           c_type(imp.type), fn, items);
        break;
      case ExternKind::Memory:
        out += fmt::format(
            "wasm_rt_memory_t* {}(struct Z_a_instance_t* p_) {{ return (wasm_rt_memory_t*){}.pointer; "
            "}}\n",
            fn, items);
        break;
      case ExternKind::Table: {
        const char* t = imp.type == ValType::FuncRef ? "wasm_rt_funcref_table_t"
                                                     : "wasm_rt_externref_table_t";
        out += fmt::format("{0}* {1}(struct Z_a_instance_t* p_) {{ return ({0}*){2}.pointer; }}\n", t,
                           fn, items);
        break;
      }
      case ExternKind::Tag:
        break;
    }
  }
  return out;
}

std::string export_glue(const NativePlan& plan) {
  std::string out;
  std::string calls, entries, pointers;
  for (size_t k = 0; k < plan.exports.size(); ++k) {
    const auto& exp = plan.exports[k];
    const std::string fn = fmt::format("Z_mZ_e{}", k);
    if (exp.kind == ExternKind::Func) {
      const auto& sig = exp.sig;
      out += fmt::format("static void airssys_x{}(void* inst_, void* io_v) {{\n", k);
      out += "  airssys_slot* io_ = (airssys_slot*)io_v;\n  (void)io_;\n";
      std::string args;
      for (size_t i = 0; i < sig.params.size(); ++i) {
        args += fmt::format(", io_[{}].{}", i, slot_field(sig.params[i]));
      }
      std::string call = fmt::format("{}((Z_m_instance_t*)inst_{})", fn, args);
      if (sig.results.empty()) {
        out += fmt::format("  {};\n", call);
      } else if (sig.results.size() == 1) {
        out += fmt::format("  io_[0].{} = {};\n", slot_field(sig.results[0]), call);
      } else {
        out += fmt::format("  {} r_ = {};\n", return_type(sig), call);
        for (size_t i = 0; i < sig.results.size(); ++i) {
          out += fmt::format("  io_[{}].{} = r_.{};\n", i, slot_field(sig.results[i]),
                             result_field(sig, i));
        }
      }
      out += "}\n";
      calls += fmt::format("airssys_x{}, ", k);
      entries += fmt::format("(wasm_rt_function_ptr_t){}, ", fn);
      pointers += "NULL, ";
    } else {
      const std::string getter =
          exp.kind == ExternKind::Tag ? fmt::format("airssys_tag_e{}", k) : fn;
      out += fmt::format("static void* airssys_p{}(void* inst_) {{ return (void*){}((Z_m_instance_t*)inst_); }}\n",
                         k, getter);
      calls += "NULL, ";
      entries += "NULL, ";
      pointers += fmt::format("airssys_p{}, ", k);
    }
  }
  out += fmt::format("static const airssys_thunk airssys_calls[] = {{{}NULL}};\n", calls);
  out += fmt::format("static const wasm_rt_function_ptr_t airssys_entries[] = {{{}NULL}};\n",
                     entries);
  out += fmt::format("static const airssys_pointer_fn airssys_pointers[] = {{{}NULL}};\n",
                     pointers);
  return out;
}

// The C names of the functions the module defines, in index order, from
// wasm2c's declarations of them.
std::vector<std::string> defined_function_names(std::string_view c) {
  std::vector<std::string> names;
  constexpr std::string_view kParams = "(Z_m_instance_t*";
  size_t line_start = 0;
  while (line_start < c.size()) {
    size_t line_end = c.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = c.size();
    std::string_view line = c.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.starts_with("static ") || !line.ends_with(");")) continue;
    const size_t params = line.find(kParams);
    if (params == std::string_view::npos) continue;
    const size_t name_start = line.rfind(' ', params);
    if (name_start == std::string_view::npos) continue;
    std::string_view name = line.substr(name_start + 1, params - name_start - 1);
    if (name.starts_with("w2c_")) names.emplace_back(name);
  }
  return names;
}

// The defined function an export's wrapper calls ("w2c_NAME"), from the
// wrapper's body as wasm2c writes it: "T WRAPPER(Z_m_instance_t* instance,
// ...) {" and on the next line the call. Empty when it calls none.
std::string export_target(std::string_view c, std::string_view wrapper) {
  const std::string head = fmt::format(" {}(Z_m_instance_t* instance", wrapper);
  const size_t at = c.find(head);
  if (at == std::string_view::npos) return {};
  const size_t body = c.find('\n', at);
  if (body == std::string_view::npos) return {};
  const size_t body_end = c.find('\n', body + 1);
  std::string_view line = c.substr(body + 1, body_end == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : body_end - body - 1);
  const size_t name = line.find("w2c_");
  const size_t open = line.find("(instance");
  if (name == std::string_view::npos || open == std::string_view::npos || open < name) return {};
  return std::string(line.substr(name, open - name));
}

// Replaces every occurrence of `from` (none is fine).
void replace_all(std::string& text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (size_t hit; (hit = text.find(from, at)) != std::string::npos; at = hit + from.size()) {
    out.append(text, at, hit - at);
    out += to;
  }
  out.append(text, at);
  text = std::move(out);
}

// The identity of import `k` (a tag), where the exporter keeps it.
std::string imported_tag(size_t k) {
  return fmt::format("(*(u32*)((airssys_imports*)instance->Z_a_instance)->self->items[{}].pointer)",
                     k);
}

// wasm2c 1.0.32's exception handling, made per instance and made to compile:
// - the tags a module defines are variables of the module, given once when
//   it loads; here they are the instance's (airssys_imports.tags, which the
//   host fills with identities of their own at each instantiation), so two
//   instances of one module define two tags;
// - an imported tag is a global symbol; here it is the exporter's identity,
//   reached through the import's item; an exported tag is a function of the
//   instance (airssys_tag_eK) returning where its identity lives;
// - the label a branch to a try's own label jumps to is written "$T<n>"
//   where the branch says "w2c_T<n>".
// `own_tags` is how many tags the module defines.
Result<void> patch_exceptions(std::string& c, const NativePlan& plan, uint32_t* own_tags) {
  *own_tags = 0;
  for (size_t at = 0; (at = c.find("$T", at)) != std::string::npos;) {
    size_t end = at + 2;
    while (end < c.size() && c[end] >= '0' && c[end] <= '9') ++end;
    if (end > at + 2 && c.compare(end, 2, ":;") == 0) {
      c.replace(at, 1, "w2c_");
      at += 4;
    } else {
      at += 2;
    }
  }
  constexpr std::string_view kInitTags = "static void init_tags(void) {\n";
  const size_t init = c.find(kInitTags);
  if (init == std::string::npos) return {};
  const size_t body = init + kInitTags.size();
  const size_t body_end = c.find("}\n", body);
  if (body_end == std::string::npos) {
    return make_error(ErrorCode::InternalError,
                      "native tier: wasm2c output differs from the expected form (init_tags)");
  }
  // "  NAME = wasm_rt_register_tag(SIZE);" for each tag the module defines.
  std::vector<std::string> names;
  for (size_t line = body; line < body_end;) {
    const size_t eol = c.find('\n', line);
    std::string_view text(c.data() + line, eol - line);
    const size_t eq = text.find(" = wasm_rt_register_tag(");
    if (eq == std::string_view::npos || !text.starts_with("  ")) {
      return make_error(ErrorCode::InternalError,
                        "native tier: wasm2c output differs from the expected form (a tag)");
    }
    names.emplace_back(text.substr(2, eq - 2));
    line = eol + 1;
  }
  c.erase(body, body_end - body);
  for (size_t j = 0; j < names.size(); ++j) {
    AIRSSYS_TRY(replace_once(
        c, fmt::format("static u32 {};\n", names[j]),
        fmt::format("#define {} (((airssys_imports*)instance->Z_a_instance)->self->tags[{}])\n",
                    names[j], j)));
  }
  *own_tags = static_cast<uint32_t>(names.size());
  for (size_t k = 0; k < plan.imports.size(); ++k) {
    if (plan.imports[k].kind != ExternKind::Tag) continue;
    replace_all(c, fmt::format("(*Z_aZ_i{})", k), imported_tag(k));
  }
  for (size_t k = 0; k < plan.exports.size(); ++k) {
    if (plan.exports[k].kind != ExternKind::Tag) continue;
    const std::string head = fmt::format("const u32 *Z_mZ_e{} = ", k);
    const size_t at = c.find(head);
    const size_t eol = at == std::string::npos ? at : c.find(";\n", at);
    if (eol == std::string::npos) {
      return make_error(ErrorCode::InternalError,
                        "native tier: wasm2c output differs from the expected form (a tag export)");
    }
    std::string source = c.substr(at + head.size(), eol - at - head.size());
    std::string where;
    if (source.starts_with("&")) {
      where = source;
    } else if (source.starts_with("Z_aZ_i")) {
      where = "&" + imported_tag(std::stoul(source.substr(6)));
    } else {
      return make_error(ErrorCode::InternalError,
                        "native tier: wasm2c output differs from the expected form (a tag export)");
    }
    c.replace(at, eol + 2 - at,
              fmt::format("static u32* airssys_tag_e{}(Z_m_instance_t* instance) {{ return {}; }}\n",
                          k, where));
  }
  return {};
}

// Whether the line declares or defines a module function: "static T
// w2c_NAME(Z_m_instance_t*..." (its name is the word before the first
// parenthesis).
bool names_function(std::string_view line) {
  if (!line.starts_with("static ")) return false;
  const size_t open = line.find('(');
  if (open == std::string_view::npos) return false;
  const size_t space = line.rfind(' ', open);
  return space != std::string_view::npos && line.substr(space + 1).starts_with("w2c_") &&
         line.substr(open).starts_with("(Z_m_instance_t*");
}

// The patched C in translation units (NativeSources). What the units share
// moves to the header: the text before the module's own variables (the
// runtime's helpers, the types, the instance struct), the functions'
// declarations, made external (the objects are linked with hidden
// visibility, so nothing of them is exported), the tags' definitions, and
// declarations of the function type ids and of the segments the functions
// read (memory.init, table.init). The functions' definitions go to units in
// index order, the glue and everything else of the module to the last unit.
Result<NativeSources> split_units(std::string_view c, std::string_view shared,
                                  std::string_view glue) {
  auto differs = [](std::string_view where) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("native tier: wasm2c output differs from the expected form ({})",
                                  where));
  };
  std::vector<std::string_view> lines;
  for (size_t at = 0; at < c.size();) {
    size_t end = c.find('\n', at);
    if (end == std::string_view::npos) end = c.size();
    lines.push_back(c.substr(at, end - at));
    at = end + 1;
  }
  size_t first = 0;  // the first line of the module's own variables
  while (first < lines.size() && !lines[first].starts_with("static bool s_module_initialized")) {
    ++first;
  }
  if (first == lines.size()) return differs("s_module_initialized");
  NativeSources out;
  std::string& header = out.header;
  for (size_t i = 0; i < first; ++i) {
    header += lines[i];
    header += '\n';
  }
  header += shared;
  std::string rest;  // to the glue's unit
  struct Function {
    size_t begin, end;  // lines
    size_t bytes;
  };
  std::vector<Function> functions;
  auto unstatic = [](std::string_view line) { return line.substr(std::string_view("static ").size()); };
  for (size_t i = first; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (names_function(line)) {
      // A declaration ends with ";", a definition's head with "{"; either
      // may go on over several lines (wasm2c wraps long parameter lists).
      size_t head_end = i;
      while (head_end < lines.size() && !lines[head_end].ends_with(";") &&
             !lines[head_end].ends_with("{")) {
        ++head_end;
      }
      if (head_end == lines.size()) return differs("a function's head");
      if (lines[head_end].ends_with(";")) {
        for (size_t j = i; j <= head_end; ++j) {
          header += j == i ? unstatic(lines[j]) : lines[j];
          header += '\n';
        }
        i = head_end;
        continue;
      }
      size_t end = i;
      size_t bytes = 0;
      while (end < lines.size() && lines[end] != "}") bytes += lines[end++].size() + 1;
      if (end == lines.size()) return differs("a function's end");
      functions.push_back({i, end + 1, bytes + 2});
      i = end;
      continue;
    }
    if (line.starts_with("#define w2c_")) {  // a tag the module defines (patch_exceptions)
      header += line;
      header += '\n';
      continue;
    }
    if (line.starts_with("static u32 func_types[") && line.ends_with("];")) {
      header += fmt::format("extern {}\n", unstatic(line));
      rest += unstatic(line);
      rest += '\n';
      continue;
    }
    if (line.starts_with("static const ") && line.ends_with("[] = {") &&
        (line.find(" data_segment_data_") != std::string_view::npos ||
         line.find(" elem_segment_exprs_") != std::string_view::npos)) {
      std::string_view declared = unstatic(line);
      header += fmt::format("extern {}[];\n", declared.substr(0, declared.size() - 6));
      rest += declared;
      rest += '\n';
      continue;
    }
    rest += line;
    rest += '\n';
  }
  // The functions in units of about kNativeUnitBytes, in index order, so a
  // function mostly stays with those it calls; the huge ones in units of
  // their own, compiled with cheaper flags.
  size_t normal_bytes = 0;
  for (const auto& f : functions) {
    if (f.bytes <= kNativeHugeFunctionBytes) normal_bytes += f.bytes;
  }
  const size_t count = std::clamp<size_t>((normal_bytes + kNativeUnitBytes - 1) / kNativeUnitBytes,
                                          1, kNativeMaxUnits);
  const std::string include = fmt::format("#include \"{}\"\n", kNativeHeaderName);
  std::vector<std::string> normal(count, include);
  std::vector<NativeUnit> huge;
  size_t done = 0;
  for (const auto& f : functions) {
    std::string* unit;
    if (f.bytes > kNativeHugeFunctionBytes) {
      if (huge.empty() || huge.back().text.size() > kNativeUnitBytes) {
        huge.push_back({fmt::format("huge{}.c", huge.size()), include, true});
      }
      unit = &huge.back().text;
    } else {
      // Unit j holds the functions whose first byte falls in its share.
      unit = &normal[std::min(count - 1, done * count / std::max<size_t>(normal_bytes, 1))];
      done += f.bytes;
    }
    for (size_t i = f.begin; i < f.end; ++i) {
      *unit += i == f.begin ? unstatic(lines[i]) : lines[i];
      *unit += '\n';
    }
  }
  for (size_t j = 0; j < count; ++j) {
    if (normal[j].size() > include.size()) {
      out.units.push_back({fmt::format("unit{}.c", j), std::move(normal[j]), false});
    }
  }
  for (auto& u : huge) out.units.push_back(std::move(u));
  out.units.push_back({"glue.c", include + rest + std::string(glue), false});
  return out;
}

}  // namespace

Result<NativeSources> finish_c(std::string c, const NativePlan& plan) {
  // The fuel global of the metering pass becomes the register variable
  // (airssys-native.h) wherever the register exists.
  for (size_t k = 0; k < plan.imports.size(); ++k) {
    const auto& imp = plan.imports[k];
    if (imp.module != kReservedModule || imp.name != kFuelGlobalName) continue;
    const std::string use = fmt::format("(*instance->Z_aZ_i{})", k);
    std::string replaced;
    replaced.reserve(c.size());
    size_t from = 0;
    for (size_t at; (at = c.find(use, from)) != std::string::npos; from = at + use.size()) {
      replaced.append(c, from, at - from);
      replaced += "AIRSSYS_FUEL_VAR";
    }
    replaced.append(c, from);
    c = std::move(replaced);
    c = "#define AIRSSYS_NATIVE_MODULE 1\n#include \"airssys-native.h\"\n"
        "#if AIRSSYS_FUEL_REGISTER\n#define AIRSSYS_FUEL_VAR airssys_fuel\n#else\n"
        "#define AIRSSYS_FUEL_VAR (*(uint64_t*)airssys_ctx_of(airssys_stack_pointer())->fuel_cell)\n"
        "#endif\n" + c;
  }
  uint32_t own_tags = 0;
  AIRSSYS_TRY(patch_exceptions(c, plan, &own_tags));
  AIRSSYS_TRY(replace_once(c, kCallIndirectFrom, kCallIndirectTo));
  AIRSSYS_TRY(replace_once(c, kPrologueFrom, kPrologueTo));
  auto start = c.find(kTableHelpersStart);
  auto end = c.find(kTableHelpersEnd);
  if (start == std::string::npos || end == std::string::npos || end < start) {
    return make_error(ErrorCode::InternalError,
                      "native tier: wasm2c output differs from the expected form (table helpers)");
  }
  std::string helpers = c.substr(start, end - start);
  for (size_t at = 0; (at = helpers.find("TRAP(OOB)", at)) != std::string::npos;) {
    helpers.replace(at, 9, "TRAP(TABLE_OOB)");
  }
  c.replace(start, end - start, helpers);

  std::string shared = "\n/* airssys-wasm: shared by every unit */\n#include \"airssys-native.h\"\n";
  shared += "extern const airssys_host_api* airssys_host;\n";
  shared += "int airssys_enter(airssys_thunk fn, void* a, void* b);\n";
  shared += "extern int airssys_bind_failed;\n";
  std::string glue = "\n/* airssys-wasm glue */\n";
  glue += import_glue(plan, shared);
  glue += export_glue(plan);
  // Where each defined function's code begins, for the backtraces of traps:
  // its own entry, and the export glue that calls it (the C compiler may
  // inline the function there).
  const auto defined = defined_function_names(c);
  std::map<std::string, uint32_t, std::less<>> index_of;
  for (uint32_t k = 0; k < defined.size(); ++k) index_of.emplace(defined[k], k);
  glue += "static const airssys_code_entry airssys_code[] = {";
  for (uint32_t k = 0; k < defined.size(); ++k) {
    glue += fmt::format("\n  {{(const void*)&{}, {}, 0}},", defined[k], k);
  }
  for (size_t k = 0; k < plan.exports.size(); ++k) {
    if (plan.exports[k].kind != ExternKind::Func) continue;
    auto target = index_of.find(export_target(c, fmt::format("Z_mZ_e{}", k)));
    if (target == index_of.end()) continue;  // an import exported again
    glue += fmt::format(
        "\n  {{(const void*)&airssys_x{0}, {1}, 1}}, {{(const void*)&Z_mZ_e{0}, {1}, 1}},", k,
        target->second);
  }
  glue += "\n  {0, 0, 0}};\n";
  glue += R"(static int airssys_bind(const airssys_host_api* api) {
  airssys_host = api;
  airssys_bind_failed = 0;
  Z_m_init_module();
  return airssys_bind_failed;
}
static void airssys_instantiate(void* inst, void* imports) {
  Z_m_instantiate((Z_m_instance_t*)inst, (struct Z_a_instance_t*)imports);
}
static void airssys_free(void* inst) { Z_m_free((Z_m_instance_t*)inst); }
)";
  glue += fmt::format(
      "__attribute__((visibility(\"default\"))) const airssys_module_desc airssys_module = {{\n"
      "  AIRSSYS_NATIVE_ABI, sizeof(Z_m_instance_t), {}, {}, airssys_bind, airssys_instantiate,\n"
      "  airssys_free, airssys_enter, airssys_calls, airssys_entries, airssys_pointers,\n"
      "  airssys_code, {}}};\n",
      plan.imports.size(), plan.exports.size(), own_tags);
  return split_units(c, shared, glue);
}

}  // namespace airssys::wasm::engine::detail
