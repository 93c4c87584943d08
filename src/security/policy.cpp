#include "airssys/wasm/security/policy.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "safe_file.hpp"
#include "native_toml.hpp"
#include "quota_toml.hpp"
#include "toml_reader.hpp"

namespace airssys::wasm::security {
namespace {

constexpr size_t kMaxPolicyBytes = size_t{1} << 20;

constexpr std::string_view kNotAllowed = "not among the resources the host policy allows";

class RuleReader {
 public:
  explicit RuleReader(detail::TomlReader& toml) : toml_(toml) {}

  void fail(const toml::node& node, std::string_view key, std::string_view rule) {
    toml_.add(node, std::string(key), std::string(rule));
  }

  std::optional<std::string> string(const toml::table& table, std::string_view key,
                                    std::string_view where) {
    const toml::node* node = table.get(key);
    if (!node) return std::nullopt;
    if (!node->is_string()) {
      fail(*node, fmt::format("{}.{}", where, key), "must be a string");
      return std::nullopt;
    }
    return node->as_string()->get();
  }

  std::vector<std::string> strings(const toml::table& table, std::string_view key,
                                   std::string_view where, bool* present) {
    std::vector<std::string> out;
    const toml::node* node = table.get(key);
    *present = node != nullptr;
    if (!node) return out;
    const toml::array* array = node->as_array();
    std::string name = fmt::format("{}.{}", where, key);
    if (!array) {
      fail(*node, name, "must be an array of strings");
      return out;
    }
    if (array->empty()) fail(*node, name, "must not be empty (leave it out to mean all)");
    std::set<std::string> seen;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      if (!item.is_string() || item.as_string()->get().empty()) {
        fail(item, fmt::format("{}[{}]", name, i), "must be a non-empty string");
        continue;
      }
      const std::string& text = item.as_string()->get();
      if (!seen.insert(text).second) {
        fail(item, fmt::format("{}[{}]", name, i), fmt::format("duplicate entry \"{}\"", text));
        continue;
      }
      out.push_back(text);
    }
    return out;
  }

 private:
  detail::TomlReader& toml_;
};

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

Result<HostPolicy> HostPolicy::parse(std::string_view text, std::string_view file) {
  detail::TomlReader input{std::string(file)};
  auto parsed = input.parse(text);
  if (!parsed) return std::unexpected(input.error(ErrorCode::InvalidConfig));
  const toml::table& root = *parsed;
  RuleReader reader(input);
  HostPolicy policy;
  policy.source_ = std::string(file);
  for (auto&& [key, node] : root) {
    if (key.str() != "rule" && key.str() != "quota" && key.str() != "ceiling" &&
        key.str() != "native") {
      reader.fail(node, key.str(),
                  "unknown key (expected [[rule]], [quota], [ceiling] or [native])");
    }
  }
  if (const toml::node* native = root.get("native")) {
    if (const toml::table* table = native->as_table()) {
      detail::read_native_table(*table, policy.native_bounds_, input);
    } else {
      reader.fail(*native, "native", "must be a table ([native])");
    }
  }
  if (const toml::node* quota = root.get("quota")) {
    if (const toml::table* table = quota->as_table()) {
      detail::read_quota_table(*table, policy.quota_defaults_, input);
    } else {
      reader.fail(*quota, "quota", "must be a table ([quota])");
    }
  }
  if (const toml::node* ceiling = root.get("ceiling")) {
    if (const toml::table* table = ceiling->as_table()) {
      detail::read_quota_table(*table, policy.quota_ceilings_, input, "ceiling");
      // A default above its own file's ceiling is a contradiction, not a
      // default to lower silently.
      for (const auto& over : quotas_above(policy.quota_defaults_, policy.quota_ceilings_)) {
        const toml::node* at = root["quota"][over.key].node();
        input.add(at ? *at : *ceiling, fmt::format("quota.{}", over.key),
                 fmt::format("the default is above the ceiling ({}); lower it to the ceiling "
                             "or below",
                             over.to_string()));
      }
    } else {
      reader.fail(*ceiling, "ceiling", "must be a table ([ceiling])");
    }
  }
  const toml::node* rules = root.get("rule");
  const toml::array* array = rules ? rules->as_array() : nullptr;
  if (rules && (!array || !array->is_array_of_tables())) {
    reader.fail(*rules, "rule", "must be an array of tables ([[rule]])");
    array = nullptr;
  }
  std::set<std::string> names;
  static constexpr std::string_view kKeys[] = {"name",       "effect",  "permissions",
                                               "resources",  "components", "signers",
                                               "except_signers", "reason"};
  for (size_t i = 0; array && i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    std::string where = fmt::format("rule[{}]", i);
    PolicyRule rule;
    rule.line = static_cast<int>(table.source().begin.line);
    // A problem with a key is reported at the key's line; a missing key at
    // the rule's.
    auto at = [&](std::string_view key) -> const toml::node& {
      const toml::node* node = table.get(key);
      return node ? *node : static_cast<const toml::node&>(table);
    };
    for (auto&& [key, node] : table) {
      if (std::find(std::begin(kKeys), std::end(kKeys), key.str()) == std::end(kKeys)) {
        reader.fail(node, fmt::format("{}.{}", where, key.str()), "unknown key");
      }
    }
    auto name = reader.string(table, "name", where);
    if (!name || name->empty()) {
      reader.fail(table, where + ".name", "every rule needs a non-empty name");
    } else if (!names.insert(*name).second) {
      reader.fail(at("name"), where + ".name", fmt::format("duplicate rule name \"{}\"", *name));
    } else {
      rule.name = *name;
    }
    auto effect = reader.string(table, "effect", where);
    if (effect == "deny") {
      rule.effect = PolicyEffect::Deny;
    } else if (effect == "allow") {
      rule.effect = PolicyEffect::Allow;
    } else {
      reader.fail(at("effect"), where + ".effect", "must be \"allow\" or \"deny\"");
    }
    rule.reason = reader.string(table, "reason", where).value_or("");

    bool present = false;
    auto permission_texts = reader.strings(table, "permissions", where, &present);
    if (!present) reader.fail(table, where + ".permissions", "every rule names its permissions");
    std::optional<ResourceKind> kind;
    for (const auto& text : permission_texts) {
      auto permission = parse_permission(text);
      if (!permission) {
        reader.fail(at("permissions"), where + ".permissions",
                    fmt::format("unknown permission \"{}\"", text));
        continue;
      }
      if (kind && *kind != resource_kind(*permission)) {
        reader.fail(at("permissions"), where + ".permissions",
                    "all permissions of a rule must be of one resource kind");
      }
      kind = resource_kind(*permission);
      rule.permissions.push_back(*permission);
    }
    rule.resources = reader.strings(table, "resources", where, &present);
    rule.components = reader.strings(table, "components", where, &present);
    rule.signers = reader.strings(table, "signers", where, &present);
    rule.except_signers = reader.strings(table, "except_signers", where, &present);

    CompiledRule compiled;
    compiled.any_resource = rule.resources.empty();
    compiled.any_component = rule.components.empty();
    PatternLists resources;
    for (auto permission : rule.permissions) {
      resources[static_cast<size_t>(permission)] = rule.resources;
    }
    if (!rule.resources.empty() && !rule.permissions.empty()) {
      auto set = CapabilitySet::build(resources);
      if (set) {
        compiled.resources = std::move(*set);
      } else {
        reader.fail(at("resources"), where + ".resources", set.error().message);
      }
    }
    if (!rule.components.empty()) {
      PatternLists names_list;
      names_list[static_cast<size_t>(Permission::MsgSend)] = rule.components;
      auto set = CapabilitySet::build(names_list);
      if (set) {
        compiled.components = std::move(*set);
      } else {
        reader.fail(at("components"), where + ".components", set.error().message);
      }
    }
    policy.rules_.push_back(std::move(rule));
    policy.compiled_.push_back(std::move(compiled));
  }
  if (!input.ok()) return std::unexpected(input.error(ErrorCode::InvalidConfig));
  return policy;
}

Result<HostPolicy> HostPolicy::load(const std::filesystem::path& file, bool missing_ok) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (missing_ok) {
      HostPolicy empty;
      empty.source_ = file.string() + " (absent)";
      return empty;
    }
    return make_error(ErrorCode::IoError, fmt::format("{}: no such file", file.string()));
  }
  // The operator's hard limits: nobody but the host's user (or root) may
  // have written them.
  AIRSSYS_TRY_ASSIGN(
      auto text, detail::read_small_file(file, kMaxPolicyBytes,
                                         detail::FileAccessRule::NotOthersWritable, "host policy"));
  return parse(text, file.string());
}

bool HostPolicy::applies(size_t index, const PolicySubject& subject,
                         Permission permission) const noexcept {
  const PolicyRule& rule = rules_[index];
  const CompiledRule& compiled = compiled_[index];
  if (std::find(rule.permissions.begin(), rule.permissions.end(), permission) ==
      rule.permissions.end()) {
    return false;
  }
  if (!compiled.any_component &&
      !compiled.components.check(Permission::MsgSend, subject.component).granted) {
    return false;
  }
  if (!rule.signers.empty() &&
      !(subject.signer_key_id && contains(rule.signers, *subject.signer_key_id))) {
    return false;
  }
  if (subject.signer_key_id && contains(rule.except_signers, *subject.signer_key_id)) {
    return false;
  }
  return true;
}

bool HostPolicy::resource_matches(size_t index, Permission permission,
                                  std::string_view resource) const noexcept {
  const CompiledRule& compiled = compiled_[index];
  return compiled.any_resource || compiled.resources.check(permission, resource).granted;
}

PolicyDecision HostPolicy::check(const PolicySubject& subject, Permission permission,
                                 std::string_view resource) const noexcept {
  const PolicyRule* first_allow = nullptr;
  bool allowed_by_rule = false;
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (!applies(i, subject, permission)) continue;
    const PolicyRule& rule = rules_[i];
    if (rule.effect == PolicyEffect::Deny) {
      if (resource_matches(i, permission, resource)) {
        return {false, &rule, rule.reason.empty() ? std::string_view("denied by host policy")
                                                  : std::string_view(rule.reason)};
      }
    } else {
      if (!first_allow) first_allow = &rule;
      if (!allowed_by_rule && resource_matches(i, permission, resource)) {
        allowed_by_rule = true;
        first_allow = &rule;
      }
    }
  }
  if (first_allow && !allowed_by_rule) return {false, first_allow, kNotAllowed};
  return {true, allowed_by_rule ? first_allow : nullptr, {}};
}

Result<std::filesystem::path> default_policy_path() {
  AIRSSYS_TRY_ASSIGN(auto home, airssys_home());
  return home / "policy.toml";
}

PolicySlot::PolicySlot() : PolicySlot(HostPolicy{}) {}

PolicySlot::PolicySlot(HostPolicy initial) {
  kept_.push_back(std::make_unique<const HostPolicy>(std::move(initial)));
  current_.store(kept_.back().get(), std::memory_order_release);
}

void PolicySlot::replace(HostPolicy next) {
  std::lock_guard lock(mutex_);
  kept_.push_back(std::make_unique<const HostPolicy>(std::move(next)));
  current_.store(kept_.back().get(), std::memory_order_release);
}

uint64_t PolicySlot::generation() const noexcept {
  std::lock_guard lock(mutex_);
  return kept_.size() - 1;
}

}  // namespace airssys::wasm::security
