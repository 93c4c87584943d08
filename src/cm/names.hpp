#pragma once
// The names of the Component Model (Explainer.md: Import and Export
// Definitions, Name Uniqueness): kebab-case labels, extern names (plain,
// annotated or interface names) and the strongly-unique comparison.

#include <string>
#include <string_view>

namespace airssys::wasm::cm {

// Whether `s` is a `label`: kebab-case words or acronyms ("a-b", "is-XML").
[[nodiscard]] bool is_label(std::string_view s);

struct ExternName {
  enum class Kind : uint8_t { Label, Constructor, Method, Static, Interface };
  Kind kind = Kind::Label;
  std::string resource;  // Constructor, Method, Static: the resource's label
  std::string label;     // Label, Method, Static: the (function) label
  std::string version;   // Interface: the version after '@', "" if none
  // The strongly-unique key: acronyms lowered, `[method]l.l` and
  // `[static]l.l` as `l`, other annotations but `[constructor]` stripped.
  std::string key;
};

// Parses an `externname`; an empty string when `name` is one, else what is
// wrong with it (the result's fields are then meaningless).
[[nodiscard]] std::string parse_extern_name(std::string_view name, ExternName& out);

// Whether `s` is a valid semantic version (semver.org 2.0).
[[nodiscard]] bool is_semver(std::string_view s);

// The strongly-unique key of a label (record fields, cases, parameters, ...).
[[nodiscard]] std::string label_key(std::string_view label);

}  // namespace airssys::wasm::cm
