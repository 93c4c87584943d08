#include "airssys/wasm/security/trust.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>
#include <toml++/toml.h>

#include "toml_reader.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <system_error>

#include "safe_file.hpp"

namespace airssys::wasm::security {
namespace {

constexpr size_t kMaxConfigBytes = 1024 * 1024;
constexpr size_t kMaxPatternLength = 4096;

bool valid_key_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto allowed = [](char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return !first && (c == '.' || c == '_' || c == '-');
  };
  for (size_t i = 0; i < name.size(); ++i) {
    if (!allowed(name[i], i == 0)) return false;
  }
  return true;
}

Result<void> validate_key_name(std::string_view name) {
  if (!valid_key_name(name)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}' is not a valid key name (1 to 64 letters, digits, '.', '_' "
                                  "or '-', starting with a letter or digit)",
                                  name));
  }
  return {};
}

// Splits "/a/b" into {"a", "b"}; nullopt unless absolute, without empty, "." or
// ".." segments and without a trailing slash.
std::optional<std::vector<std::string_view>> split_normal_absolute(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> segments;
  if (path == "/") return segments;
  size_t start = 1;
  while (true) {
    size_t end = path.find('/', start);
    std::string_view segment =
        path.substr(start, end == std::string_view::npos ? end : end - start);
    if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
    segments.push_back(segment);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return segments;
}

bool segment_matches(std::string_view pattern, std::string_view segment) {
  if (pattern.find('*') == std::string_view::npos) return pattern == segment;
  // Patterns hold no '?', '[' or '\\' (validated), so fnmatch sees only '*'.
  std::string p(pattern);
  std::string s(segment);
  return ::fnmatch(p.c_str(), s.c_str(), 0) == 0;
}

std::string quote_toml(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

using detail::toml_type_name;

}  // namespace

Result<std::filesystem::path> airssys_home() {
  const char* home = std::getenv("AIRSSYS_HOME");
  std::filesystem::path out;
  if (home != nullptr && *home != '\0') {
    out = home;
    if (!out.is_absolute()) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("AIRSSYS_HOME='{}' is not an absolute path", home));
    }
    return out.lexically_normal();
  }
  const char* user_home = std::getenv("HOME");
  if (user_home == nullptr || *user_home == '\0') {
    return make_error(ErrorCode::InvalidArgument,
                      "neither AIRSSYS_HOME nor HOME is set; set AIRSSYS_HOME to the directory "
                      "that holds trust.toml");
  }
  out = user_home;
  if (!out.is_absolute()) {
    return make_error(
        ErrorCode::InvalidArgument,
        fmt::format("HOME='{}' is not an absolute path; set AIRSSYS_HOME", user_home));
  }
  return (out / ".airssys").lexically_normal();
}

Result<std::filesystem::path> default_trust_config_path() {
  AIRSSYS_TRY_ASSIGN(auto home, airssys_home());
  return home / "trust.toml";
}

Result<void> validate_trusted_path_pattern(std::string_view pattern) {
  auto bad = [&](std::string_view rule) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("trusted path pattern '{}' {}", pattern, rule));
  };
  if (pattern.empty()) return bad("is empty");
  if (pattern.size() > kMaxPatternLength) return bad("is longer than 4096 characters");
  for (char c : pattern) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad("contains a control character");
    if (c == '?' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\\') {
      return bad(fmt::format("contains '{}': only '*' and '**' are wildcards here", c));
    }
  }
  if (pattern.front() != '/') return bad("is not an absolute path (it must start with '/')");
  if (pattern.size() > 1 && pattern.back() == '/') return bad("ends with '/'");
  auto segments = split_normal_absolute(pattern);
  if (!segments) return bad("has an empty, '.' or '..' segment");
  if (segments->empty()) return bad("is the root directory, which would trust everything");
  if (segments->front().find('*') != std::string_view::npos) {
    return bad(
        "starts with a wildcard, which would trust nearly everything (its first directory "
        "must be literal; dev_mode exists for trusting everything)");
  }
  for (std::string_view segment : *segments) {
    if (segment.find("**") != std::string_view::npos && segment != "**") {
      return bad(
          fmt::format("has '**' inside the segment '{}' (it must be a whole segment)", segment));
    }
  }
  return {};
}

bool trusted_path_matches(std::string_view pattern, std::string_view directory) {
  if (!validate_trusted_path_pattern(pattern)) return false;
  auto pat = split_normal_absolute(pattern);
  auto dir = split_normal_absolute(directory);
  if (!pat || !dir) return false;
  const size_t p_count = pat->size();
  const size_t d_count = dir->size();
  // reach[i][j]: the first i pattern segments match the first j directory segments.
  std::vector<std::vector<char>> reach(p_count + 1, std::vector<char>(d_count + 1, 0));
  reach[0][0] = 1;
  for (size_t i = 1; i <= p_count; ++i) {
    std::string_view segment = (*pat)[i - 1];
    bool globstar = segment == "**";
    for (size_t j = 0; j <= d_count; ++j) {
      if (globstar) {
        reach[i][j] = reach[i - 1][j] || (j > 0 && reach[i][j - 1]);
      } else {
        reach[i][j] = j > 0 && reach[i - 1][j - 1] && segment_matches(segment, (*dir)[j - 1]);
      }
    }
  }
  return reach[p_count][d_count] != 0;
}

Result<TrustConfig> TrustConfig::load(const std::filesystem::path& file) {
  auto text = detail::read_small_file(
      file, kMaxConfigBytes, detail::FileAccessRule::NotOthersWritable, "trust configuration");
  if (!text && text.error().code == ErrorCode::NotFound) return TrustConfig{};
  if (!text && text.error().code == ErrorCode::InvalidArgument) {
    return make_error(ErrorCode::InvalidConfig, text.error().message);
  }
  if (!text) return std::unexpected(text.error());
  return parse(*text, file.string());
}

namespace {

// The [[trusted_keys]] or [[trusted_paths]] entries, into `config`.
void read_entries(detail::TomlReader& input, TrustConfig& config, const std::string& name,
                  const toml::array& array) {
  // The string at `key` of an entry, or a problem.
  auto string_at = [&](const toml::node& node, const std::string& key) -> const std::string* {
    if (const auto* value = node.as_string()) return &value->get();
    input.add(node, key, fmt::format("must be a string, found {}", toml_type_name(node)));
    return nullptr;
  };
  const std::vector<std::string_view> required =
      name == "trusted_keys" ? std::vector<std::string_view>{"name", "public_key"}
                             : std::vector<std::string_view>{"pattern"};
  for (size_t i = 0; i < array.size(); ++i) {
    const toml::node& element = *array.get(i);
    const std::string where = fmt::format("{}[{}]", name, i);
    const auto* table = element.as_table();
    if (table == nullptr) {
      input.add(element, where, fmt::format("must be a table ([[{}]] section)", name));
      continue;
    }
    bool complete = true;
    for (auto&& [field, value] : *table) {
      if (std::find(required.begin(), required.end(), field.str()) == required.end()) {
        input.add(value, fmt::format("{}.{}", where, field.str()),
                  fmt::format("unknown key (a {} entry has only: {})", name,
                              fmt::join(required, ", ")));
      }
    }
    for (std::string_view field : required) {
      if (!table->contains(field)) {
        input.add(element, fmt::format("{}.{}", where, field), "is required");
        complete = false;
      }
    }
    if (!complete) continue;
    if (name == "trusted_keys") {
      const toml::node& name_node = *table->get("name");
      const toml::node& key_node = *table->get("public_key");
      const std::string* key_name = string_at(name_node, where + ".name");
      const std::string* key_text = string_at(key_node, where + ".public_key");
      if (key_name == nullptr || key_text == nullptr) continue;
      auto public_key = parse_public_key(*key_text);
      if (!public_key) {
        input.add(key_node, where + ".public_key",
                  "is not an Ed25519 public key (standard base64 of 32 bytes, as printed by "
                  "keygen)");
      } else if (auto added = config.add_key(*key_name, *public_key); !added) {
        input.add(name_node, where, added.error().message);
      }
    } else {
      const toml::node& pattern_node = *table->get("pattern");
      const std::string* pattern = string_at(pattern_node, where + ".pattern");
      if (pattern == nullptr) continue;
      if (auto added = config.add_path(*pattern); !added) {
        input.add(pattern_node, where + ".pattern", added.error().message);
      }
    }
  }
}

}  // namespace

Result<TrustConfig> TrustConfig::parse(std::string_view text, std::string_view source_name) {
  detail::TomlReader input(source_name.empty() ? std::string("<trust configuration>")
                                               : std::string(source_name));
  auto parsed = input.parse(text);
  if (!parsed) return std::unexpected(input.error(ErrorCode::InvalidConfig));
  TrustConfig config;
  config.source_ = std::string(source_name);
  for (auto&& [key, node] : *parsed) {
    std::string name(key.str());
    if (name == "dev_mode") {
      if (const auto* value = node.as_boolean()) {
        config.dev_mode_ = value->get();
      } else {
        input.add(node, name, fmt::format("must be true or false, found {}", toml_type_name(node)));
      }
    } else if (name == "trusted_keys" || name == "trusted_paths") {
      if (const auto* array = node.as_array()) {
        read_entries(input, config, name, *array);
      } else {
        input.add(node, name, fmt::format("must be an array of tables ([[{}]] sections)", name));
      }
    } else {
      input.add(node, name, "unknown key (known keys: dev_mode, trusted_keys, trusted_paths)");
    }
  }
  return input.result(std::move(config), ErrorCode::InvalidConfig);
}

std::string TrustConfig::to_toml() const {
  std::string out =
      "# airssys-wasm trust configuration: see docs/trust.md.\n"
      "# Rewritten by `airssys-wasm trust`; comments added by hand are not kept.\n\n";
  out += fmt::format("dev_mode = {}\n", dev_mode_ ? "true" : "false");
  for (const auto& key : keys_) {
    out += fmt::format("\n[[trusted_keys]]\nname = {}\npublic_key = {}  # key id {}\n",
                       quote_toml(key.name), quote_toml(public_key_to_text(key.public_key)),
                       key_id(key.public_key));
  }
  for (const auto& path : paths_) {
    out += fmt::format("\n[[trusted_paths]]\npattern = {}\n", quote_toml(path.pattern));
  }
  return out;
}

Result<void> TrustConfig::save(const std::filesystem::path& file) const {
  std::filesystem::path dir = file.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create directory '{}': {}",
                                                        dir.string(), ec.message()));
    }
  }
  return detail::write_file_atomically(file, to_toml(), 0644, true, "trust configuration");
}

Result<void> TrustConfig::add_key(std::string_view name, const PublicKey& key) {
  AIRSSYS_TRY(validate_key_name(name));
  for (const auto& existing : keys_) {
    if (existing.name == name) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("a trusted key named '{}' already exists", name));
    }
    if (existing.public_key == key) {
      return make_error(
          ErrorCode::InvalidArgument,
          fmt::format("key id {} is already trusted as '{}'", key_id(key), existing.name));
    }
  }
  keys_.push_back(TrustedKey{std::string(name), key});
  return {};
}

Result<void> TrustConfig::remove_key(std::string_view name_or_key_id) {
  auto it = std::find_if(keys_.begin(), keys_.end(), [&](const TrustedKey& key) {
    return key.name == name_or_key_id || key_id(key.public_key) == name_or_key_id;
  });
  if (it == keys_.end()) {
    return make_error(
        ErrorCode::NotFound,
        fmt::format("no trusted key is named '{}' or has that key id", name_or_key_id));
  }
  keys_.erase(it);
  return {};
}

Result<void> TrustConfig::add_path(std::string_view pattern) {
  AIRSSYS_TRY(validate_trusted_path_pattern(pattern));
  for (const auto& existing : paths_) {
    if (existing.pattern == pattern) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("trusted path pattern '{}' is already present", pattern));
    }
  }
  paths_.push_back(TrustedPath{std::string(pattern)});
  return {};
}

Result<void> TrustConfig::remove_path(std::string_view pattern) {
  auto it = std::find_if(paths_.begin(), paths_.end(),
                         [&](const TrustedPath& path) { return path.pattern == pattern; });
  if (it == paths_.end()) {
    return make_error(ErrorCode::NotFound,
                      fmt::format("no trusted path pattern '{}' is present", pattern));
  }
  paths_.erase(it);
  return {};
}

Result<TrustDecision> TrustConfig::decide(const std::filesystem::path& component_dir,
                                          const SignatureCheck& signature) const {
  if (!signature) return std::unexpected(signature.error());
  const std::string dir = component_dir.string();
  if (!split_normal_absolute(dir)) {
    return make_error(
        ErrorCode::InvalidArgument,
        fmt::format("component directory '{}' is not a canonical absolute path", dir));
  }
  const std::string source = source_.empty() ? std::string("the trust configuration") : source_;
  if (dev_mode_) {
    return TrustDecision{
        TrustLevel::DevMode, fmt::format("dev_mode = true in {}", source),
        fmt::format("WARNING: DEV MODE IS ON: capability checks are BYPASSED for the component in "
                    "'{}'. Never use dev mode outside local development; turn it off with "
                    "dev_mode = false in {}.",
                    dir, source)};
  }
  const auto& signer = *signature;
  if (signer) {
    for (const auto& key : keys_) {
      if (key.public_key == signer->signer) {
        return TrustDecision{
            TrustLevel::Trusted,
            fmt::format("signed by trusted key '{}' (key id {})", key.name, signer->key_id), ""};
      }
    }
  }
  for (const auto& path : paths_) {
    if (trusted_path_matches(path.pattern, dir)) {
      return TrustDecision{
          TrustLevel::Trusted,
          fmt::format("'{}' is under the trusted path pattern '{}'", dir, path.pattern), ""};
    }
  }
  std::string signed_text =
      signer ? fmt::format("signed by key id {}, which is not trusted", signer->key_id)
             : std::string("not signed");
  return TrustDecision{
      TrustLevel::Unknown,
      fmt::format("{}, and '{}' is under no trusted path pattern", signed_text, dir), ""};
}

}  // namespace airssys::wasm::security
