// The interpreter tier's loader: a module is checked, validated, described
// in the engine's terms, rewritten for metering (metering.hpp) and decoded
// once into the immutable ModuleDesc every instantiation copies.

#include <sodium.h>

#include <algorithm>
#include <wabt/binary-reader.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>

#include <fmt/format.h>

#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "exceptions.hpp"
#include "interp_backend.hpp"
#include "metering.hpp"

namespace airssys::wasm::engine::interp {
namespace {

ExternKind kind_from_wabt(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return ExternKind::Func;
    case wabt::ExternalKind::Table: return ExternKind::Table;
    case wabt::ExternalKind::Memory: return ExternKind::Memory;
    case wabt::ExternalKind::Global: return ExternKind::Global;
    case wabt::ExternalKind::Tag: return ExternKind::Tag;
  }
  return ExternKind::Func;
}

}  // namespace

FuncSig sig_from_wabt(const wi::FuncType& type) {
  return detail::sig_from_wabt(type.params, type.results);
}

// What wabt's description of an extern says, in the engine's terms.
ExternType extern_type(const wi::ExternType& type) {
  ExternType out;
  out.kind = kind_from_wabt(type.kind);
  auto limits = [](const wabt::Limits& l) {
    return ExternLimits{l.initial, l.has_max ? std::optional<uint64_t>(l.max) : std::nullopt};
  };
  if (auto* f = wabt::dyn_cast<wi::FuncType>(&type)) {
    out.sig = sig_from_wabt(*f);
  } else if (auto* t = wabt::dyn_cast<wi::TableType>(&type)) {
    out.value = from_wabt(t->element);
    out.limits = limits(t->limits);
  } else if (auto* m = wabt::dyn_cast<wi::MemoryType>(&type)) {
    out.limits = limits(m->limits);
  } else if (auto* g = wabt::dyn_cast<wi::GlobalType>(&type)) {
    out.value = from_wabt(g->type);
    out.mutable_global = g->mut == wi::Mutability::Var;
  } else if (auto* tag = wabt::dyn_cast<wi::TagType>(&type)) {
    for (auto p : tag->signature) out.sig.params.push_back(from_wabt(p));
  }
  return out;
}

std::string describe_import(const wi::ImportType& import) {
  std::string_view kind = wi::GetName(import.type->kind);
  if (auto* f = wabt::dyn_cast<wi::FuncType>(import.type.get())) {
    return fmt::format("'{}'.'{}' ({} {})", import.module, import.name, kind,
                       sig_from_wabt(*f).to_string());
  }
  return fmt::format("'{}'.'{}' ({})", import.module, import.name, kind);
}

namespace {

class InterpEngine final : public Engine {
 public:
  Result<std::shared_ptr<const Module>> load(std::span<const uint8_t> bytes,
                                             std::string_view name) override;
  Result<std::shared_ptr<const Module>> load_wat(std::string_view text,
                                                 std::string_view name) override;
  std::unique_ptr<Store> new_store() override { return interp::new_store(); }
  Tier tier() const override { return Tier::Interp; }
  EngineStats stats() const override { return {.shared_loads = loaded_.shared_loads()}; }

 private:
  Result<std::shared_ptr<const Module>> load_checked(std::span<const uint8_t> bytes,
                                                     std::string_view name);

  wabt::Features features_ = engine_features();
  // By the SHA-256 of the bytes given to load: a load of bytes held here
  // shares the decoded, metered description, not checked again.
  detail::SharedModules<ModuleImpl> loaded_;
};

std::string digest_of(std::span<const uint8_t> bytes) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), bytes.size());
  return out;
}


std::string binary_errors(std::string_view name, const wabt::Errors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{}:{:#x}: {}", name, e.loc.offset, e.message);
  }
  return out;
}

Result<std::shared_ptr<const Module>> InterpEngine::load(std::span<const uint8_t> bytes,
                                                         std::string_view name) {
  // A component (Component Model binary: version 0xd, layer 1) is not a core
  // module; say so rather than what a core decoder makes of its header.
  static constexpr uint8_t kComponentPreamble[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  if (bytes.size() >= sizeof kComponentPreamble &&
      std::equal(std::begin(kComponentPreamble), std::end(kComponentPreamble), bytes.begin())) {
    return make_error(ErrorCode::MalformedModule,
                      fmt::format("{}: this is a WebAssembly component (Component Model), not a "
                                  "core module; components are loaded by the cm layer "
                                  "(cm::decode_component)",
                                  name));
  }
  // wabt reports problems as errors, but a third-party decoder that throws on
  // hostile bytes must not end the host: refuse the module instead.
  try {
    // Exception handling in its standard form becomes the toolkit's legacy
    // form before anything reads the module.
    const std::string digest = digest_of(bytes);
    if (auto held = loaded_.find(digest, name)) return held;
    auto translated = detail::translate_exceptions(bytes);
    if (!translated) {
      return make_error(translated.error().code,
                        fmt::format("{}: {}", name, translated.error().message));
    }
    auto loaded = *translated ? load_checked(**translated, name) : load_checked(bytes, name);
    if (!loaded) return loaded;
    loaded_.remember(digest, std::static_pointer_cast<const ModuleImpl>(*loaded));
    return loaded;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::MalformedModule,
                      fmt::format("{}: the module could not be decoded ({})", name, e.what()));
  }
}

Result<std::shared_ptr<const Module>> InterpEngine::load_checked(std::span<const uint8_t> bytes,
                                                                 std::string_view name) {
  auto module = std::make_shared<ModuleImpl>();
  module->name_ = std::string(name);
  detail::ModuleNotes notes;
  if (auto ok = detail::check_well_formed(bytes, features_, &notes); !ok) {
    return make_error(ok.error().code, fmt::format("{}:{}", name, ok.error().message));
  }
  module->func_names_ = std::move(notes.func_names);
  module->warnings_ = std::move(notes.warnings);
  wabt::Errors errors;
  wabt::ReadBinaryOptions options(features_, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/false);
  wi::ModuleDesc original;
  if (wabt::Failed(wi::ReadBinaryInterp(name, bytes.data(), bytes.size(), options, &errors,
                                        &original))) {
    return make_error(ErrorCode::InvalidModule, binary_errors(name, errors));
  }
  for (const auto& import : original.imports) {
    const auto& t = import.type;
    if (t.module == kReservedModule) {
      return make_error(ErrorCode::ReservedImport,
                        fmt::format("{}: import {} uses the module name reserved by the engine",
                                    name, describe_import(t)));
    }
    module->imports_.push_back(ImportInfo{extern_type(*t.type), t.module, t.name});
  }

  auto metered = detail::add_metering(bytes, features_);
  if (!metered) return std::unexpected(metered.error());
  auto desc = std::make_shared<wi::ModuleDesc>();
  module->fuel_import_index_ = metered->fuel_import_index;
  module->reserved_func_imports_ = metered->reserved_func_imports;
  module->state_hazard_ = std::move(metered->state_hazard);
  if (wabt::Failed(wi::ReadBinaryInterp(name, metered->bytes.data(), metered->bytes.size(),
                                        options, &errors, desc.get()))) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("metered module failed validation: {}",
                                  binary_errors(name, errors)));
  }
  module->desc_ = desc;
  for (const auto& import : desc->imports) {
    if (import.type.type->kind == wabt::ExternalKind::Global) ++module->global_imports_;
  }
  for (uint32_t i = 0; i < desc->globals.size(); ++i) {
    if (desc->globals[i].type.mut == wi::Mutability::Var) {
      module->state_globals_.push_back(module->global_imports_ + i);
    }
  }
  for (uint32_t i = 0; i < desc->exports.size(); ++i) {
    const auto& t = desc->exports[i].type;
    module->exports_.push_back(ExportInfo{extern_type(*t.type), t.name});
    module->export_index_.emplace(t.name, i);
  }
  return module;
}

Result<std::shared_ptr<const Module>> InterpEngine::load_wat(std::string_view text,
                                                             std::string_view name) {
  auto bytes = detail::wat_to_binary(text, name, features_);
  if (!bytes) return std::unexpected(bytes.error());
  return load(*bytes, name);
}

}  // namespace

}  // namespace airssys::wasm::engine::interp

namespace airssys::wasm::engine {

std::unique_ptr<Engine> Engine::interpreter() { return std::make_unique<interp::InterpEngine>(); }

}  // namespace airssys::wasm::engine
