// Component.toml: reading it (every problem, in file order) and the canonical
// text of what it asks for.
#include "airssys/wasm/security/manifest.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "airssys/wasm/core/enum_names.hpp"
#include "airssys/wasm/security/pattern.hpp"
#include "manifest_fields.hpp"
#include "message_text.hpp"
#include "quota_toml.hpp"
#include "toml_reader.hpp"

namespace airssys::wasm::security {
namespace {

constexpr size_t kMaxDescriptionChars = 500;
constexpr size_t kMaxAuthorChars = 200;

using detail::count_code_points;
using detail::display_key;
using detail::is_control;
using detail::line_of;
using detail::quote_value;
using detail::toml_type_name;

class ManifestReader {
 public:
  explicit ManifestReader(std::string_view file) : reader_(std::string(file)) {
    check_.manifest.file = std::string(file);
    reader_.limit_size(kMaxManifestBytes, "a manifest");
  }

  ManifestCheck run(std::string_view text) {
    if (auto root = reader_.parse(text)) read_root(*root);
    for (auto& problem : reader_.take_problems()) {
      check_.problems.push_back(ManifestProblem{check_.manifest.file, problem.line,
                                                std::move(problem.key), std::move(problem.rule)});
    }
    return std::move(check_);
  }

 private:
  void add(int line, std::string key, std::string rule) {
    reader_.add(line, std::move(key), std::move(rule));
  }

  void read_root(const toml::table& root) {
    bool has_component = false;
    for (auto&& [key, node] : root) {
      std::string_view name = key.str();
      int line = line_of(key.source());
      const toml::table* table = node.as_table();
      if (name == "component") has_component = true;
      if (name == "component" || name == "capabilities" || name == "quota" || name == "config" ||
          name == "runtime") {
        if (!table) {
          add(line, std::string(name), fmt::format("must be a table ([{}])", name));
          continue;
        }
      }
      if (name == "component") {
        read_component(*table);
      } else if (name == "capabilities") {
        read_capabilities(*table);
      } else if (name == "quota") {
        read_quota(*table);
      } else if (name == "config") {
        check_.manifest.config = config_json(*table, "config");
        read_config_env(*table);
      } else if (name == "runtime") {
        read_runtime(*table);
      } else {
        add(line, display_key(name),
            "unknown section or key (known: component, capabilities, quota, runtime, config)");
      }
    }
    if (!has_component) add(0, "component", "missing required section [component]");
  }

  void read_runtime(const toml::table& table) {
    for (auto&& [key, node] : table) {
      std::string full = "runtime." + display_key(key.str());
      if (key.str() != "tier") {
        add(line_of(key.source()), full, "unknown key (known: tier)");
        continue;
      }
      auto value = string_value(node, full);
      if (!value) continue;
      check_.manifest.runtime.tier = parse_tier_choice(*value);
      if (!check_.manifest.runtime.tier) {
        add(line_of(node.source()), full,
            fmt::format("\"{}\" is not a tier (known: interp, native, auto)",
                        value->substr(0, 64)));
      }
    }
  }

  // [config.env] becomes the component's WASI environment: names a POSIX
  // environment can hold, string values without NUL.
  void read_config_env(const toml::table& config) {
    const toml::node* env = config.get("env");
    if (!env) return;
    const toml::table* table = env->as_table();
    if (!table) {
      add(line_of(env->source()), "config.env",
          fmt::format("must be a table of strings (the component's environment), not {}",
                      toml_type_name(*env)));
      return;
    }
    for (auto&& [key, value] : *table) {
      std::string name(key.str());
      std::string path = "config.env." + display_key(name);
      if (!is_environment_name(name)) {
        add(line_of(key.source()), path,
            "is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 256 bytes)");
      }
      if (const auto* text = value.as_string()) {
        if (text->get().find('\0') != std::string::npos) {
          add(line_of(value.source()), path, "must not contain a NUL character");
        }
      } else {
        add(line_of(value.source()), path,
            fmt::format("must be a string, not {}", toml_type_name(value)));
      }
    }
  }

  // The string value of node, or a problem when it is something else.
  std::optional<std::string_view> string_value(const toml::node& node, const std::string& key) {
    if (auto* s = node.as_string()) return std::string_view(s->get());
    add(line_of(node.source()), key, fmt::format("must be a string, not {}", toml_type_name(node)));
    return std::nullopt;
  }

  void read_component(const toml::table& table) {
    ComponentInfo& info = check_.manifest.component;
    bool has_name = false;
    bool has_version = false;
    for (auto&& [key, node] : table) {
      std::string_view name = key.str();
      std::string full = "component." + display_key(name);
      int line = line_of(node.source());
      if (name != "name" && name != "version" && name != "description" && name != "author" &&
          name != "license") {
        add(line_of(key.source()), full,
            "unknown key (known: name, version, description, author, license)");
        continue;
      }
      auto value = string_value(node, full);
      if (name == "name") has_name = true;
      if (name == "version") has_version = true;
      if (!value) continue;
      if (name == "name") {
        if (*value == kHostSenderName) {
          add(line, full,
              fmt::format("\"{}\" is reserved: it is the sender of the host's own messages",
                          kHostSenderName));
        } else if (is_valid_component_name(*value)) {
          info.name = std::string(*value);
        } else {
          add(line, full,
              fmt::format("{} is not a valid component name ({})", quote_value(*value),
                          kComponentNameRule));
        }
      } else if (name == "version") {
        if (auto p = detail::semver_problem(*value)) {
          add(line, full,
              fmt::format("{} is not a SemVer 2.0.0 version: {}", quote_value(*value), *p));
        } else {
          info.version = std::string(*value);
        }
      } else if (name == "description") {
        info.description = free_text(*value, full, line, kMaxDescriptionChars, true);
      } else if (name == "author") {
        info.author = free_text(*value, full, line, kMaxAuthorChars, false);
      } else if (auto p = detail::license_problem(*value)) {
        add(line, full,
            fmt::format("{} is not an SPDX license expression: {}", quote_value(*value), *p));
      } else {
        info.license = std::string(*value);
      }
    }
    int line = line_of(table.source());
    if (!has_name) add(line, "component.name", "missing required key");
    if (!has_version) add(line, "component.version", "missing required key");
  }

  std::optional<std::string> free_text(std::string_view value, const std::string& key, int line,
                                       size_t max_chars, bool multi_line) {
    bool ok = true;
    if (value.empty()) {
      add(line, key, "is empty (leave the key out instead)");
      ok = false;
    }
    if (size_t chars = count_code_points(value); chars > max_chars) {
      add(line, key, fmt::format("has {} characters; at most {} are allowed", chars, max_chars));
      ok = false;
    }
    auto bad = std::find_if(value.begin(), value.end(), [&](char c) {
      return is_control(c) && !(multi_line && (c == '\n' || c == '\t'));
    });
    if (bad != value.end()) {
      add(line, key,
          fmt::format("contains a control character (byte 0x{:02x})",
                      static_cast<unsigned char>(*bad)));
      ok = false;
    }
    if (!ok) return std::nullopt;
    return std::string(value);
  }

  void read_capabilities(const toml::table& table) {
    for (auto&& [key, node] : table) {
      std::string_view resource = key.str();
      std::string full = "capabilities." + display_key(resource);
      int line = line_of(key.source());
      if (resource.find('.') != std::string_view::npos && parse_permission(resource)) {
        add(line, full,
            fmt::format("quoted key: write {} without quotes, as a dotted key", resource));
        continue;
      }
      std::vector<Permission> known;
      for (auto p : kAllPermissions) {
        if (resource_kind_name(resource_kind(p)) == resource) known.push_back(p);
      }
      if (known.empty()) {
        add(line, full,
            "unknown resource (known: filesystem, network, storage, messaging; write e.g. "
            "filesystem.read = [...])");
        continue;
      }
      const toml::table* actions = node.as_table();
      if (!actions) {
        add(line, full,
            fmt::format("must be a table of permissions (write e.g. {}.{} = [...])", resource,
                        permission_action(known.front())));
        continue;
      }
      for (auto&& [action_key, value] : *actions) {
        std::string_view action = action_key.str();
        std::string permission_key = full + "." + display_key(action);
        auto permission = parse_permission(fmt::format("{}.{}", resource, action));
        if (!permission) {
          std::string names;
          for (auto p : known) {
            if (!names.empty()) names += ", ";
            names += permission_action(p);
          }
          add(line_of(action_key.source()), permission_key,
              fmt::format("unknown permission {}.{} (known for {}: {})", resource,
                          display_key(action), resource, names));
          continue;
        }
        read_patterns(*permission, permission_key, value);
      }
    }
  }

  void read_patterns(Permission permission, const std::string& key, const toml::node& node) {
    const toml::array* array = node.as_array();
    if (!array) {
      add(line_of(node.source()), key,
          fmt::format("must be an array of strings, not {}", toml_type_name(node)));
      return;
    }
    if (array->empty()) {
      add(line_of(node.source()), key, "empty array (leave the permission out to request nothing)");
      return;
    }
    auto& patterns = check_.manifest.capabilities[static_cast<size_t>(permission)];
    std::unordered_map<std::string_view, size_t> first_index;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      std::string element_key = fmt::format("{}[{}]", key, i);
      int line = line_of(element.source());
      auto value = string_value(element, element_key);
      if (!value) continue;
      if (value->empty()) {
        add(line, element_key, "empty pattern");
        continue;
      }
      if (auto [it, inserted] = first_index.emplace(*value, i); !inserted) {
        add(line, element_key,
            fmt::format("{} is a duplicate of {}[{}]", quote_value(*value), key, it->second));
        continue;
      }
      auto violations = pattern_violations(pattern_kind(permission), *value);
      for (const auto& violation : violations) {
        add(line, element_key, fmt::format("{} {}", quote_value(*value), violation));
      }
      if (violations.empty()) patterns.emplace_back(*value);
    }
  }

  void read_quota(const toml::table& table) {
    detail::read_quota_table(table, check_.manifest.quota, reader_);
  }

  nlohmann::json config_json(const toml::node& node, const std::string& key) {
    switch (node.type()) {
      case toml::node_type::table: {
        auto object = nlohmann::json::object();
        for (auto&& [k, v] : *node.as_table()) {
          object[std::string(k.str())] = config_json(v, key + "." + display_key(k.str()));
        }
        return object;
      }
      case toml::node_type::array: {
        auto array = nlohmann::json::array();
        const auto& elements = *node.as_array();
        for (size_t i = 0; i < elements.size(); ++i) {
          array.push_back(config_json(*elements.get(i), fmt::format("{}[{}]", key, i)));
        }
        return array;
      }
      case toml::node_type::string:
        return node.as_string()->get();
      case toml::node_type::integer:
        return node.as_integer()->get();
      case toml::node_type::floating_point: {
        double value = node.as_floating_point()->get();
        if (!std::isfinite(value)) {
          add(line_of(node.source()), key, "must be a finite number (JSON has no nan or inf)");
        }
        return value;
      }
      case toml::node_type::boolean:
        return node.as_boolean()->get();
      case toml::node_type::date:
      case toml::node_type::time:
      case toml::node_type::date_time: {
        std::ostringstream text;
        node.visit([&](const auto& v) { text << v; });
        return text.str();
      }
      case toml::node_type::none:
        break;
    }
    return nullptr;
  }

  detail::TomlReader reader_;
  ManifestCheck check_;
};

}  // namespace

bool Manifest::requests_capabilities() const {
  return std::any_of(capabilities.begin(), capabilities.end(),
                     [](const auto& patterns) { return !patterns.empty(); });
}

std::string ManifestProblem::to_string() const {
  return detail::TomlReader::format(file, detail::TomlProblem{line, key, rule});
}

bool is_semver(std::string_view version) {
  return !detail::semver_problem(version);
}

ManifestCheck check_manifest(std::string_view text, std::string_view file_name) {
  try {
    return ManifestReader(file_name).run(text);
  } catch (const std::exception& e) {
    ManifestCheck failed;
    failed.manifest.file = std::string(file_name);
    failed.problems.push_back(ManifestProblem{std::string(file_name), 0, "",
                                              fmt::format("cannot be read: {}", e.what())});
    return failed;
  }
}

Result<Manifest> parse_manifest(std::string_view text, std::string_view file_name) {
  auto check = check_manifest(text, file_name);
  if (check.problems.empty()) return std::move(check.manifest);
  std::string message;
  for (const auto& problem : check.problems) {
    if (!message.empty()) message += '\n';
    message += problem.to_string();
  }
  return make_error(ErrorCode::InvalidManifest, std::move(message));
}

Result<Manifest> load_manifest(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot open for reading", path.string()));
  }
  std::string text;
  text.resize(kMaxManifestBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return make_error(ErrorCode::IoError, fmt::format("{}: read failed", path.string()));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_manifest(text, path.string());
}

bool is_environment_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  if (name.front() >= '0' && name.front() <= '9') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::string> manifest_environment(const Manifest& manifest) {
  std::vector<std::string> env;
  auto it = manifest.config.find("env");
  if (it == manifest.config.end() || !it->is_object()) return env;
  for (const auto& [name, value] : it->items()) {
    if (value.is_string()) env.push_back(name + "=" + value.get<std::string>());
  }
  return env;
}

// X(tier, name): both directions are made from this one table.
#define AIRSSYS_TIER_CHOICES(X)   \
  X(TierChoice::Interp, "interp") \
  X(TierChoice::Native, "native") \
  X(TierChoice::Auto, "auto")

const char* tier_choice_name(TierChoice tier) {
  switch (tier) { AIRSSYS_TIER_CHOICES(AIRSSYS_ENUM_NAME_CASE) }
  return "?";
}

std::optional<TierChoice> parse_tier_choice(std::string_view text) {
  AIRSSYS_TIER_CHOICES(AIRSSYS_ENUM_PARSE_IF)
  return std::nullopt;
}

std::string canonical_capabilities(const Manifest& manifest) {
  std::vector<std::string> lines;
  for (auto permission : kAllPermissions) {
    for (const auto& pattern : manifest.patterns(permission)) {
      lines.push_back(fmt::format("{} {}", permission_name(permission), pattern));
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& line : lines) {
    out += line;
    out += '\n';
  }
  return out;
}

std::string canonical_approval_terms(const Manifest& manifest) {
  std::string out = canonical_capabilities(manifest);
  const QuotaSpec& q = manifest.quota;
  auto line = [&](std::string_view key, const std::optional<uint64_t>& value,
                  std::string_view unit) {
    if (value) out += fmt::format("quota {} {} {}\n", key, *value, unit);
  };
  // Exact numbers, not rounded sizes: two different values never read alike.
  line("storage", q.storage_bytes, "B");
  line("message_rate", q.message_rate, "/s");
  line("network_bandwidth", q.network_bytes_per_second, "B/s");
  line("cpu_time", q.cpu_ms_per_second, "ms/s");
  line("memory", q.memory_bytes, "B");
  if (manifest.runtime.tier) {
    out += fmt::format("runtime tier {}\n", tier_choice_name(*manifest.runtime.tier));
  }
  // nlohmann::json keeps object keys sorted and escapes control characters,
  // so the dump is one line and the same for the same configuration.
  if (!manifest.config.empty()) out += "config " + manifest.config.dump() + "\n";
  return out;
}

}  // namespace airssys::wasm::security
