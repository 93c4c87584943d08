// validate, inspect, keygen, sign, verify, trust, approvals, policy check.
#include "security_commands.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "airssys/wasm/component/world.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/wit.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/approval.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "airssys/wasm/system/admin.hpp"

namespace airssys::wasm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void print_json(const json& j) {
  fmt::print("{}\n", j.dump(2));
}

int fail(const Error& error) {
  report(error);
  return exit_code_for(error);
}

// A bad trust.toml or policy.toml, or an argument the operation refuses
// (a duplicate or unknown key name, a bad pattern): exit 2, as `run` does.
int fail_usage(const Error& error) {
  report(error);
  return kExitUsage;
}

Result<security::ApprovalStore> open_approvals(const HostPaths& paths) {
  AIRSSYS_TRY_ASSIGN(auto dir, data_dir(paths));
  return security::ApprovalStore::open(dir / "approvals.db");
}

void audit_operator_action(const HostPaths& paths, std::string component, std::string resource,
                           std::string action, std::string reason, security::DecisionLayer layer) {
  auto log = open_audit_log(paths);
  if (!log) return;
  security::AuditRecord record;
  record.component = std::move(component);
  record.resource = std::move(resource);
  record.permission = std::move(action);
  record.result = security::AuditResult::Granted;
  record.reason = std::move(reason);
  record.layer = layer;
  log->record(std::move(record));
  log->flush();
}

json capabilities_json(const security::Manifest& manifest) {
  json caps = json::object();
  for (auto p : security::kAllPermissions) {
    if (!manifest.patterns(p).empty()) {
      caps[std::string(security::permission_name(p))] = manifest.patterns(p);
    }
  }
  return caps;
}

json quotas_json(const security::QuotaLimits& q) {
  return {{"storage_bytes", q.storage_bytes},
          {"messages_per_second", q.messages_per_second},
          {"network_bytes_per_second", q.network_bytes_per_second},
          {"cpu_ms_per_second", q.cpu_ms_per_second},
          {"memory_bytes", q.memory_bytes}};
}

// --- validate ---------------------------------------------------------------

// Whether `file` holds a module (the binary format's magic, or a .wat name)
// rather than a Component.toml.
bool is_module_file(const fs::path& file) {
  if (file.extension() == ".wat" || file.extension() == ".wasm") return true;
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, sizeof magic) && std::string_view(magic, 4) == std::string_view("\0asm", 4);
}

// A component's bytes decoded and validated (its core modules on `core`).
Result<std::shared_ptr<const cm::Component>> decode_component_file(const fs::path& file,
                                                                   engine::Engine& core) {
  auto bytes = engine::read_module_file(file);
  if (!bytes) return std::unexpected(bytes.error());
  return cm::decode_component(*bytes, file.filename().string(), core);
}

// A component (Component Model) is decoded and validated whole, its core
// modules included; its imports and exports are printed as WIT.
int validate_component(const fs::path& file, bool as_json) {
  auto engine = engine::Engine::interpreter();
  auto component = decode_component_file(file, *engine);
  if (!component) return fail(component.error());
  const auto& c = **component;
  auto lines = cm::wit_lines(c);
  if (as_json) {
    print_json({{"file", file.string()},
                {"kind", "component"},
                {"valid", true},
                {"imports", c.imports.size()},
                {"exports", c.exports.size()},
                {"wit", lines}});
    return 0;
  }
  fmt::print("{}: valid component ({} import{}, {} export{})\n", file.string(), c.imports.size(),
             c.imports.size() == 1 ? "" : "s", c.exports.size(), c.exports.size() == 1 ? "" : "s");
  for (const auto& line : lines) fmt::print("  {}\n", line);
  return 0;
}

// A module is decoded and validated as every start would; it says nothing
// of a Component.toml.
int validate_module(const fs::path& file, bool as_json) {
  if (is_component_file(file)) return validate_component(file, as_json);
  auto engine = engine::Engine::interpreter();
  auto module = engine->load_file(file);
  if (!module) return fail(module.error());
  const auto& warnings = (*module)->warnings();
  if (as_json) {
    print_json({{"file", file.string()},
                {"kind", "module"},
                {"valid", true},
                {"imports", (*module)->imports().size()},
                {"exports", (*module)->exports().size()},
                {"warnings", warnings}});
    return 0;
  }
  for (const auto& w : warnings) fmt::print(stderr, "{}: warning: {}\n", file.string(), w);
  fmt::print("{}: valid module ({} import{}, {} export{})\n", file.string(),
             (*module)->imports().size(), (*module)->imports().size() == 1 ? "" : "s",
             (*module)->exports().size(), (*module)->exports().size() == 1 ? "" : "s");
  return 0;
}

int validate(const std::string& path, bool as_json) {
  fs::path file(path);
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    file /= "Component.toml";
  } else if (fs::is_regular_file(file, ec) && is_module_file(file)) {
    return validate_module(file, as_json);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(Error::of(ErrorCode::IoError,
                          fmt::format("cannot read {}: {}", file.string(), std::strerror(errno))));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto check = security::check_manifest(text.str(), file.string());
  if (as_json) {
    json problems = json::array();
    for (const auto& p : check.problems) {
      problems.push_back({{"file", p.file}, {"line", p.line}, {"key", p.key}, {"rule", p.rule}});
    }
    json out = {{"file", file.string()}, {"valid", check.problems.empty()}, {"problems", problems}};
    if (check.problems.empty()) {
      out["component"] = {{"name", check.manifest.component.name},
                          {"version", check.manifest.component.version}};
      out["capabilities"] = capabilities_json(check.manifest);
    }
    print_json(out);
  } else if (check.problems.empty()) {
    size_t patterns = 0;
    for (const auto& list : check.manifest.capabilities) patterns += list.size();
    fmt::print("{}: valid ({} {}, {} capability pattern{})\n", file.string(),
               check.manifest.component.name, check.manifest.component.version, patterns,
               patterns == 1 ? "" : "s");
  } else {
    for (const auto& p : check.problems) fmt::print(stderr, "{}\n", p.to_string());
    fmt::print(stderr, "{}: {} problem{}; the component will not start\n", file.string(),
               check.problems.size(), check.problems.size() == 1 ? "" : "s");
  }
  return check.problems.empty() ? 0 : kExitLoadFailed;
}

// --- inspect ----------------------------------------------------------------


// What inspect says of any deployable unit, module or component: its
// signature, its manifest's identity, capabilities and quotas.
void describe_unit(json& out, const std::optional<security::Manifest>& manifest,
                   const security::SignatureCheck& signature) {
  if (!signature) {
    out["signature"] = {{"status", "invalid"}, {"error", signature.error().message}};
  } else if (*signature) {
    out["signature"] = {{"status", "verified"}, {"key_id", (*signature)->key_id}};
  } else {
    out["signature"] = {{"status", "unsigned"}};
  }
  if (manifest) {
    out["component"] = {{"name", manifest->component.name}, {"version", manifest->component.version}};
    out["capabilities"] = capabilities_json(*manifest);
    out["quotas"] = quotas_json(security::effective_quotas(manifest->quota, {}));
  } else {
    out["capabilities"] = json::object();
  }
}

void print_identity(const json& out) {
  if (out.contains("component")) {
    fmt::print("component  {} {}\n", out["component"]["name"].get<std::string>(),
               out["component"]["version"].get<std::string>());
  } else {
    fmt::print("component  (no Component.toml: runs with no capabilities)\n");
  }
  fmt::print("signature  {}\n",
             out["signature"]["status"].get<std::string>() +
                 (out["signature"].contains("key_id")
                      ? " by key " + out["signature"]["key_id"].get<std::string>()
                  : out["signature"].contains("error")
                      ? ": " + out["signature"]["error"].get<std::string>()
                      : ""));
}

void print_grants(const json& out) {
  fmt::print("capabilities requested\n");
  if (out["capabilities"].empty()) fmt::print("  (none)\n");
  for (auto& [permission, patterns] : out["capabilities"].items()) {
    for (const auto& p : patterns) fmt::print("  {:20} {}\n", permission, p.get<std::string>());
  }
  if (out.contains("quotas")) {
    const auto& q = out["quotas"];
    fmt::print("quotas\n  storage {}  messages {}/s  network {}/s  cpu {} ms/s  memory {}\n",
               format_byte_size(q["storage_bytes"]), q["messages_per_second"].get<uint64_t>(),
               format_byte_size(q["network_bytes_per_second"]),
               q["cpu_ms_per_second"].get<uint64_t>(), format_byte_size(q["memory_bytes"]));
  }
}

int inspect_component(const fs::path& file, const std::optional<security::Manifest>& manifest,
                      const security::SignatureCheck& signature, bool as_json) {
  auto engine = engine::Engine::interpreter();
  auto component = decode_component_file(file, *engine);
  if (!component) return fail(component.error());
  const auto& c = **component;
  auto lines = cm::wit_lines(c);
  auto world = component::component_world(c);
  if (!world) return fail(world.error());
  json out = {{"component_file", file.string()},
              {"kind", "component"},
              {"world", world->name.empty() ? json(nullptr) : json(world->name)},
              {"imports", c.imports.size()},
              {"exports", c.exports.size()},
              {"core_modules", c.modules.size()},
              {"wit", lines}};
  describe_unit(out, manifest, signature);
  if (as_json) {
    print_json(out);
    return 0;
  }
  fmt::print("component file  {} (Component Model, {} core module{})\n", file.string(),
             c.modules.size(), c.modules.size() == 1 ? "" : "s");
  print_identity(out);
  fmt::print("targets    {}\n",
             world->kind == component::WorldKind::Airssys ? world->name + " (up, serve, install)"
             : world->kind == component::WorldKind::Command ? world->name + " (run)"
                                                            : std::string("no world this host runs"));
  fmt::print("world ({} import{}, {} export{})\n", c.imports.size(),
             c.imports.size() == 1 ? "" : "s", c.exports.size(), c.exports.size() == 1 ? "" : "s");
  for (const auto& line : lines) fmt::print("  {}\n", line);
  print_grants(out);
  return 0;
}


int inspect(const std::string& path, bool as_json) {
  auto files = locate_component(path);
  if (!files) return fail(files.error());
  auto manifest = load_component_manifest(*files);
  if (!manifest) return fail(manifest.error());
  auto signature =
      security::check_component_signature(files->module, files->manifest, files->signature);
  if (is_component_file(files->module)) {
    return inspect_component(files->module, *manifest, signature, as_json);
  }
  auto engine = engine::Engine::interpreter();
  auto module = engine->load_file(files->module);
  if (!module) return fail(module.error());
  json imports = json::array(), exports = json::array();
  for (const auto& i : (*module)->imports()) {
    imports.push_back({{"module", i.module},
                       {"name", i.name},
                       {"kind", engine::extern_kind_name(i.kind)},
                       {"type", i.to_string()}});
  }
  for (const auto& e : (*module)->exports()) {
    exports.push_back({{"name", e.name},
                       {"kind", engine::extern_kind_name(e.kind)},
                       {"type", e.to_string()}});
  }
  json out = {{"module", files->module.string()},
              {"imports", imports},
              {"exports", exports},
              {"warnings", (*module)->warnings()}};
  describe_unit(out, *manifest, signature);
  if (as_json) {
    print_json(out);
    return 0;
  }
  fmt::print("module     {}\n", files->module.string());
  for (const auto& w : (*module)->warnings()) fmt::print("warning    {}\n", w);
  print_identity(out);
  fmt::print("imports ({})\n", imports.size());
  for (const auto& i : imports) {
    fmt::print("  {}.{}  {} {}\n", i["module"].get<std::string>(), i["name"].get<std::string>(),
               i["kind"].get<std::string>(), i["type"].get<std::string>());
  }
  fmt::print("exports ({})\n", exports.size());
  for (const auto& e : exports) {
    fmt::print("  {}  {} {}\n", e["name"].get<std::string>(), e["kind"].get<std::string>(),
               e["type"].get<std::string>());
  }
  print_grants(out);
  return 0;
}

// --- keygen, sign, verify ---------------------------------------------------

int keygen(const std::string& out, bool force, bool as_json) {
  auto keys = security::generate_key_pair();
  if (!keys) return fail(keys.error());
  fs::path secret = out + ".key", pub = out + ".pub";
  if (auto ok = security::write_secret_key_file(secret, *keys, force); !ok) return fail(ok.error());
  if (auto ok = security::write_public_key_file(pub, keys->public_key, force); !ok) {
    return fail(ok.error());
  }
  std::string id = security::key_id(keys->public_key);
  if (as_json) {
    print_json({{"secret_key_file", secret.string()},
                {"public_key_file", pub.string()},
                {"key_id", id},
                {"public_key", security::public_key_to_text(keys->public_key)}});
  } else {
    fmt::print("secret key  {} (mode 0600: keep it private)\npublic key  {}\nkey id      {}\n",
               secret.string(), pub.string(), id);
  }
  return 0;
}

int sign(const std::string& path, const std::string& key_file, bool as_json) {
  auto files = locate_component(path);
  if (!files) return fail(files.error());
  if (!files->has_manifest) {
    return fail(Error::of(ErrorCode::NotFound,
                          fmt::format("{}: a component directory with Component.toml is signed "
                                      "(module and manifest together)",
                                      path)));
  }
  auto keys = security::read_secret_key_file(key_file);
  if (!keys) return fail(keys.error());
  auto record = security::sign_component(files->module, files->manifest, *keys);
  if (!record) return fail(record.error());
  if (auto ok = security::write_signature_file(files->signature, *record); !ok) {
    return fail(ok.error());
  }
  if (as_json) {
    print_json({{"signature_file", files->signature.string()},
                {"key_id", record->key_id},
                {"module_sha256", security::to_hex(record->module_sha256)},
                {"manifest_sha256", security::to_hex(record->manifest_sha256)}});
  } else {
    fmt::print("signed {} with key {}\n  module   sha256 {}\n  manifest sha256 {}\n",
               files->signature.string(), record->key_id, security::to_hex(record->module_sha256),
               security::to_hex(record->manifest_sha256));
  }
  return 0;
}

int verify(const std::string& path, const HostPaths& paths, bool as_json) {
  auto files = locate_component(path);
  if (!files) return fail(files.error());
  auto verified = security::verify_component(files->module, files->manifest, files->signature);
  json out = {{"component", files->dir.string()}};
  int code = 0;
  std::optional<Error> trust_error;
  if (verified) {
    out["verified"] = true;
    out["key_id"] = verified->key_id;
    out["module_sha256"] = security::to_hex(verified->module_sha256);
    auto config_path = trust_config_path(paths);
    auto config = config_path ? security::TrustConfig::load(*config_path)
                              : Result<security::TrustConfig>(std::unexpected(config_path.error()));
    if (config) {
      security::SignatureCheck check = std::optional<security::VerifiedSignature>(*verified);
      auto decision = config->decide(files->dir, check);
      if (decision) {
        out["trust"] = security::trust_level_name(decision->level);
        out["trust_reason"] = decision->reason;
      }
    } else {
      // The signature is good, but what trust it gets cannot be told: say so.
      out["trust_error"] = config.error().message;
      trust_error = config.error();
      code = kExitUsage;
    }
  } else {
    out["verified"] = false;
    out["error"] = verified.error().message;
    code = kExitRefused;
  }
  if (as_json) {
    print_json(out);
  } else if (verified) {
    fmt::print("verified: signed by key {}\n", verified->key_id);
    if (out.contains("trust")) {
      fmt::print("trust:    {} ({})\n", out["trust"].get<std::string>(),
                 out["trust_reason"].get<std::string>());
    }
  } else {
    report(verified.error());
  }
  if (trust_error) report(*trust_error);
  return code;
}

// --- trust ------------------------------------------------------------------

int trust_command(const std::string& action, const std::vector<std::string>& args,
                  const HostPaths& paths, bool as_json) {
  auto path = trust_config_path(paths);
  if (!path) return fail(path.error());
  auto config = security::TrustConfig::load(*path);
  if (!config) return fail_usage(config.error());
  auto need = [&](size_t n, const char* usage) -> std::optional<int> {
    if (args.size() == n) return std::nullopt;
    report_usage(fmt::format("usage: airssys-wasm trust {}", usage));
    return kExitUsage;
  };
  Result<void> changed;
  if (action == "list") {
    if (auto bad = need(0, "list")) return *bad;
    if (as_json) {
      json keys = json::array(), dirs = json::array();
      for (const auto& k : config->keys()) {
        keys.push_back({{"name", k.name},
                        {"key_id", security::key_id(k.public_key)},
                        {"public_key", security::public_key_to_text(k.public_key)}});
      }
      for (const auto& p : config->paths()) dirs.push_back(p.pattern);
      print_json({{"file", path->string()},
                  {"dev_mode", config->dev_mode()},
                  {"trusted_keys", keys},
                  {"trusted_paths", dirs}});
    } else {
      fmt::print("trust configuration {}\ndev mode  {}\n", path->string(),
                 config->dev_mode() ? "ON (capability checks bypassed)" : "off");
      fmt::print("trusted keys ({})\n", config->keys().size());
      for (const auto& k : config->keys()) {
        fmt::print("  {:20} {}\n", k.name, security::key_id(k.public_key));
      }
      fmt::print("trusted paths ({})\n", config->paths().size());
      for (const auto& p : config->paths()) fmt::print("  {}\n", p.pattern);
    }
    return 0;
  } else if (action == "add-key") {
    if (auto bad = need(2, "add-key NAME PUBLIC_KEY_FILE")) return *bad;
    auto key = security::read_public_key_file(args[1]);
    if (!key) return fail(key.error());
    changed = config->add_key(args[0], *key);
  } else if (action == "remove-key") {
    if (auto bad = need(1, "remove-key NAME_OR_KEY_ID")) return *bad;
    changed = config->remove_key(args[0]);
  } else if (action == "add-path") {
    if (auto bad = need(1, "add-path PATTERN")) return *bad;
    changed = config->add_path(args[0]);
  } else if (action == "remove-path") {
    if (auto bad = need(1, "remove-path PATTERN")) return *bad;
    changed = config->remove_path(args[0]);
  } else if (action == "dev-mode") {
    if (auto bad = need(1, "dev-mode on|off")) return *bad;
    if (args[0] != "on" && args[0] != "off") {
      report_usage("trust dev-mode takes 'on' or 'off'");
      return kExitUsage;
    }
    config->set_dev_mode(args[0] == "on");
    if (args[0] == "on") {
      fmt::print(stderr,
                 "WARNING: dev mode bypasses capability checks for every component "
                 "started with this trust configuration.\n");
    }
  } else {
    report_usage(
        fmt::format("unknown trust action '{}' (list, add-key, remove-key, "
                    "add-path, remove-path, dev-mode)",
                    action));
    return kExitUsage;
  }
  if (!changed) return fail_usage(changed.error());
  // The folder of the trust configuration (the data directory, by default)
  // is made 0700 like every data directory.
  if (!path->parent_path().empty() && !fs::exists(path->parent_path())) {
    if (auto made = create_private_directory(path->parent_path()); !made) {
      return fail(made.error());
    }
  }
  if (auto ok = config->save(*path); !ok) return fail(ok.error());
  audit_operator_action(
      paths, "", path->string(), "trust." + action,
      fmt::format("trust configuration changed: {} {}", action, args.empty() ? "" : args[0]),
      security::DecisionLayer::Trust);
  fmt::print("{}: saved\n", path->string());
  // A running host decides trust with what it last read, until it reloads.
  if (auto dir = data_dir(paths)) {
    if (system::AdminClient::connect(*dir / "admin.sock")) {
      fmt::print(stderr,
                 "note: the host serving {} still decides trust as before; run "
                 "airssys-wasm reload --data-dir {} to put this change in force\n",
                 dir->string(), security::shell_word(dir->string()));
    }
  }
  return 0;
}

// --- approvals --------------------------------------------------------------

json approval_json(const security::ApprovalEntry& e) {
  // The stored text is every term of the approval; its capability lines are
  // those that begin with a permission.
  std::string capabilities;
  for (size_t start = 0; start < e.capabilities.size();) {
    size_t end = e.capabilities.find('\n', start);
    if (end == std::string::npos) end = e.capabilities.size();
    std::string_view line(e.capabilities.data() + start, end - start);
    if (security::parse_permission(line.substr(0, line.find(' ')))) {
      capabilities += std::string(line) + "\n";
    }
    start = end + 1;
  }
  return {{"key", e.key},
          {"name", e.name},
          {"version", e.version},
          {"module_sha256", e.module_hash},
          {"state", security::approval_state_name(e.state)},
          {"capabilities", capabilities},
          {"terms", e.capabilities},
          {"requested_at", security::format_audit_time(e.requested_at)},
          {"decided_by", e.decided_by},
          {"decided_at", e.decided_at ? security::format_audit_time(*e.decided_at) : ""},
          {"reason", e.reason}};
}

// The request a key names: the whole key, or a prefix of at least 8
// characters that only one request's key starts with.
constexpr size_t kMinKeyPrefix = 8;

Result<std::string> full_approval_key(security::ApprovalStore& store, const std::string& given) {
  AIRSSYS_TRY_ASSIGN(auto entries, store.list(std::nullopt));
  std::vector<std::string> matches;
  for (const auto& e : entries) {
    if (e.key == given) return e.key;
    if (e.key.starts_with(given)) matches.push_back(e.key);
  }
  if (given.size() < kMinKeyPrefix && !matches.empty()) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}' is too short a key: give at least {} characters of it "
                                  "(`airssys-wasm approvals list` shows the keys)",
                                  given, kMinKeyPrefix));
  }
  if (matches.size() > 1) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}' is the start of {} approval keys: give more of it", given,
                                  matches.size()));
  }
  if (matches.empty()) {
    return make_error(ErrorCode::NotFound,
                      fmt::format("no approval request has the key '{}', nor a key starting "
                                  "with it (`airssys-wasm approvals list` shows the keys)",
                                  given));
  }
  return matches.front();
}

int approvals_command(const std::string& action, const std::vector<std::string>& args,
                      const std::string& state, const std::string& reason, const HostPaths& paths,
                      bool as_json) {
  auto store = open_approvals(paths);
  if (!store) return fail(store.error());
  if (action == "list") {
    std::optional<security::ApprovalState> filter;
    if (!state.empty()) {
      filter = security::parse_approval_state(state);
      if (!filter) {
        report_usage(
            fmt::format("unknown state '{}' (pending, approved, denied, "
                        "auto-approved, bypassed)",
                        state));
        return kExitUsage;
      }
    }
    auto entries = store->list(filter);
    if (!entries) return fail(entries.error());
    if (as_json) {
      json out = json::array();
      for (const auto& e : *entries) out.push_back(approval_json(e));
      print_json(out);
    } else {
      if (entries->empty()) fmt::print("no approvals{}\n", state.empty() ? "" : " in that state");
      for (const auto& e : *entries) {
        fmt::print("{}  {:13} {} {}\n", e.key, security::approval_state_name(e.state), e.name,
                   e.version);
        for (size_t start = 0; start < e.capabilities.size();) {
          size_t end = e.capabilities.find('\n', start);
          if (end == std::string::npos) end = e.capabilities.size();
          if (end > start) fmt::print("    {}\n", e.capabilities.substr(start, end - start));
          start = end + 1;
        }
      }
    }
    return 0;
  }
  if (action != "approve" && action != "deny") {
    report_usage(fmt::format("unknown approvals action '{}' (list, approve, deny)", action));
    return kExitUsage;
  }
  if (args.size() != 1) {
    report_usage(fmt::format("usage: airssys-wasm approvals {} KEY", action));
    return kExitUsage;
  }
  std::string why = reason.empty() ? fmt::format("{} by the operator",
                                                 action == "approve" ? "approved" : "denied")
                                   : reason;
  auto key = full_approval_key(*store, args[0]);
  if (!key) return fail_usage(key.error());
  auto entry = action == "approve" ? store->approve(*key, "operator", why)
                                   : store->deny(*key, "operator", why);
  if (!entry) {
    // An unknown key is a bad argument; a refused transition is a failed check.
    if (entry.error().code == ErrorCode::NotFound) return fail_usage(entry.error());
    if (entry.error().code == ErrorCode::InvalidTransition) {
      report(entry.error());
      return kExitFailure;
    }
    return fail(entry.error());
  }
  audit_operator_action(paths, entry->name, entry->module_hash, "approval." + action, why,
                        security::DecisionLayer::Approval);
  if (as_json) {
    print_json(approval_json(*entry));
  } else {
    fmt::print("{} {} {}: {}\n", entry->key, entry->name, entry->version,
               security::approval_state_name(entry->state));
  }
  return 0;
}

// --- policy check -----------------------------------------------------------

int policy_check(const std::string& component, const std::string& permission_text,
                 const std::string& resource, const std::string& signer, const HostPaths& paths,
                 bool as_json) {
  auto permission = security::parse_permission(permission_text);
  if (!permission) {
    report_usage(
        fmt::format("unknown permission '{}' (e.g. filesystem.read, "
                    "network.connect, messaging.send)",
                    permission_text));
    return kExitUsage;
  }
  auto file = policy_path(paths);
  if (!file) return fail(file.error());
  auto policy = security::HostPolicy::load(*file, /*missing_ok=*/paths.policy.empty());
  if (!policy) return fail_usage(policy.error());

  std::string name = component;
  std::string signer_key_id = signer;
  json out = {{"permission", permission_text}, {"resource", resource}};
  std::optional<bool> granted_by_manifest;
  std::string manifest_reason;
  std::error_code ec;
  if (fs::is_directory(component, ec)) {
    auto files = locate_component(component);
    if (!files) return fail(files.error());
    auto manifest = load_component_manifest(*files);
    if (!manifest) return fail(manifest.error());
    security::PatternLists patterns;
    if (*manifest) {
      name = (*manifest)->component.name;
      patterns = (*manifest)->capabilities;
    } else {
      name = files->module.stem().string();
    }
    auto set = security::CapabilitySet::build(patterns);
    if (!set) return fail(set.error());
    auto decision = set->check(*permission, resource);
    granted_by_manifest = decision.granted;
    manifest_reason = std::string(decision.reason_text());
    out["component_grant"] = {{"granted", decision.granted}, {"reason", manifest_reason}};
    if (signer_key_id.empty()) {
      // As `run` does: signer rules see the key that verifiably signed it.
      auto signature =
          security::check_component_signature(files->module, files->manifest, files->signature);
      if (!signature) return fail(signature.error());
      if (*signature) signer_key_id = (*signature)->key_id;
    }
  }
  out["component"] = name;
  out["signer"] = signer_key_id.empty() ? json(nullptr) : json(signer_key_id);
  security::PolicySubject subject{name, std::nullopt};
  if (!signer_key_id.empty()) subject.signer_key_id = signer_key_id;
  auto verdict = policy->check(subject, *permission, resource);
  json rule = nullptr;
  if (verdict.rule) {
    rule = {{"name", verdict.rule->name},
            {"line", verdict.rule->line},
            {"effect", verdict.rule->effect == security::PolicyEffect::Deny ? "deny" : "allow"}};
  }
  out["host_policy"] = {{"allowed", verdict.allowed},
                        {"rule", rule},
                        {"reason", std::string(verdict.reason)},
                        {"file", policy->source()}};
  bool allowed = verdict.allowed && granted_by_manifest.value_or(true);
  out["allowed"] = allowed;
  if (as_json) {
    print_json(out);
  } else {
    if (granted_by_manifest) {
      fmt::print("component grant: {} ({})\n", *granted_by_manifest ? "granted" : "denied",
                 manifest_reason);
    }
    if (verdict.rule) {
      fmt::print("host policy:     {} by rule '{}' ({}:{}){}{}\n",
                 verdict.allowed ? "allowed" : "denied", verdict.rule->name, policy->source(),
                 verdict.rule->line, verdict.reason.empty() ? "" : ": ", verdict.reason);
    } else {
      fmt::print("host policy:     allowed, no rule applies ({})\n", policy->source());
    }
    fmt::print("result:          {} {} {} for {}\n", allowed ? "ALLOWED" : "DENIED",
               permission_text, resource, name);
  }
  return allowed ? 0 : kExitFailure;
}

void add_host_path_options(CLI::App* cmd, HostPaths* paths, bool trust, bool policy, bool data) {
  cmd->add_option("--config", paths->config,
                  "The host's configuration (host.toml): its data directory and the files it "
                  "names, unless the options below name others")
      ->type_name("FILE");
  if (trust) {
    cmd->add_option("--trust-config", paths->trust_config,
                    "Trust configuration (default <data-dir>/trust.toml, the data directory "
                    "defaulting to $AIRSSYS_HOME, else ~/.airssys)")
        ->type_name("FILE");
  }
  if (policy) {
    cmd->add_option("--policy", paths->policy,
                    "Host policy (default <data-dir>/policy.toml; absent means no rules)")
        ->type_name("FILE");
  }
  if (data) {
    cmd->add_option("--data-dir", paths->data_dir,
                    "Where trust.toml, policy.toml, approvals.db and audit.log live (default "
                    "$AIRSSYS_HOME)")
        ->type_name("DIR");
  }
}

void add_audit_log_option(CLI::App* cmd, HostPaths* paths) {
  cmd->add_option("--audit-log", paths->audit_log, "Audit log (default <data-dir>/audit.log)")
      ->type_name("FILE");
}

}  // namespace

void add_host_options(CLI::App* cmd, HostPaths* paths) {
  add_host_path_options(cmd, paths, true, true, true);
  add_audit_log_option(cmd, paths);
}

void add_security_commands(CLI::App& app, int* exit_code) {
  struct State {
    HostPaths paths;
    bool json = false;
    bool force = false;
    std::string path, key, out, action, state, reason, signer, permission, resource;
    std::vector<std::string> args;
  };
  auto s = std::make_shared<State>();

  auto* validate_cmd = app.add_subcommand(
      "validate", "Check a Component.toml against every rule, or decode and validate a module");
  validate_cmd->add_option("path", s->path,
                           "Component.toml, the directory holding it, or a .wasm or .wat module")
      ->required();
  validate_cmd->add_flag("--json", s->json, "Machine-readable output");
  validate_cmd->callback([s, exit_code] { *exit_code = validate(s->path, s->json); });

  auto* inspect_cmd = app.add_subcommand(
      "inspect", "Show what a component imports, exports and asks for, and its signature");
  inspect_cmd->add_option("path", s->path, "A component directory or a module")->required();
  inspect_cmd->add_flag("--json", s->json, "Machine-readable output");
  inspect_cmd->callback([s, exit_code] { *exit_code = inspect(s->path, s->json); });

  auto* keygen_cmd = app.add_subcommand("keygen", "Generate an Ed25519 signing key pair");
  keygen_cmd->add_option("--out", s->out, "Writes OUT.key (secret, mode 0600) and OUT.pub")
      ->required()
      ->type_name("PREFIX");
  keygen_cmd->add_flag("--force", s->force, "Overwrite existing key files");
  keygen_cmd->add_flag("--json", s->json, "Machine-readable output");
  keygen_cmd->callback([s, exit_code] { *exit_code = keygen(s->out, s->force, s->json); });

  auto* sign_cmd = app.add_subcommand(
      "sign", "Sign a component directory (SHA-256 of component.wasm and Component.toml)");
  sign_cmd->add_option("--key", s->key, "Secret key file from keygen")
      ->required()
      ->type_name("FILE");
  sign_cmd->add_option("path", s->path, "The component directory")->required();
  sign_cmd->add_flag("--json", s->json, "Machine-readable output");
  sign_cmd->callback([s, exit_code] { *exit_code = sign(s->path, s->key, s->json); });

  auto* verify_cmd = app.add_subcommand(
      "verify", "Verify a component's signature and show the trust it would get");
  verify_cmd->add_option("path", s->path, "The component directory")->required();
  add_host_path_options(verify_cmd, &s->paths, true, false, false);
  verify_cmd->add_flag("--json", s->json, "Machine-readable output");
  verify_cmd->callback([s, exit_code] { *exit_code = verify(s->path, s->paths, s->json); });

  auto* trust_cmd = app.add_subcommand(
      "trust",
      "List or change trusted sources: list | add-key NAME FILE | remove-key NAME_OR_KEY_ID | "
      "add-path PATTERN | remove-path PATTERN | dev-mode on|off");
  trust_cmd
      ->add_option("action", s->action,
                   "list, add-key, remove-key, add-path, "
                   "remove-path or dev-mode")
      ->required();
  trust_cmd->add_option("args", s->args, "The action's arguments");
  add_host_path_options(trust_cmd, &s->paths, true, false, true);
  add_audit_log_option(trust_cmd, &s->paths);
  trust_cmd->add_flag("--json", s->json, "Machine-readable output (list)");
  trust_cmd->callback(
      [s, exit_code] { *exit_code = trust_command(s->action, s->args, s->paths, s->json); });

  auto* approvals_cmd = app.add_subcommand(
      "approvals", "The approval queue: list [--state S] | approve KEY | deny KEY");
  approvals_cmd->add_option("action", s->action, "list, approve or deny")->required();
  approvals_cmd->add_option("args", s->args, "The approval key");
  approvals_cmd->add_option("--state", s->state,
                            "list: only pending, approved, denied, auto-approved or bypassed");
  approvals_cmd->add_option("--reason", s->reason, "approve/deny: the reason on record");
  add_host_path_options(approvals_cmd, &s->paths, false, false, true);
  add_audit_log_option(approvals_cmd, &s->paths);
  approvals_cmd->add_flag("--json", s->json, "Machine-readable output");
  approvals_cmd->callback([s, exit_code] {
    *exit_code = approvals_command(s->action, s->args, s->state, s->reason, s->paths, s->json);
  });

  auto* policy_cmd = app.add_subcommand("policy", "The host policy");
  auto* check_cmd = policy_cmd->add_subcommand(
      "check", "Would this component be allowed this resource, and by which rule?");
  check_cmd
      ->add_option("component", s->path,
                   "A component directory (its grants are checked too) or a component name")
      ->required();
  check_cmd->add_option("permission", s->permission, "e.g. filesystem.write")->required();
  check_cmd->add_option("resource", s->resource, "e.g. /etc/passwd, api.example.com:443")
      ->required();
  check_cmd->add_option("--signer", s->signer,
                        "The key id the component is signed with (default for a directory: the "
                        "key of its verified signature)");
  add_host_path_options(check_cmd, &s->paths, false, true, true);
  check_cmd->add_flag("--json", s->json, "Machine-readable output");
  check_cmd->callback([s, exit_code] {
    *exit_code = policy_check(s->path, s->permission, s->resource, s->signer, s->paths, s->json);
  });
  policy_cmd->require_subcommand(1);
}

}  // namespace airssys::wasm::cli
