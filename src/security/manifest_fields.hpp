#pragma once
// The rules of a manifest's [component] fields that are languages of their
// own: SemVer 2.0.0 versions and SPDX license expressions (private to the
// layer). Each returns the first rule the text breaks, for a person.

#include <optional>
#include <string>
#include <string_view>

namespace airssys::wasm::security::detail {

// MAJOR.MINOR.PATCH[-pre.release][+build.metadata]: "it needs exactly
// MAJOR.MINOR.PATCH", ...; nothing for a valid version.
[[nodiscard]] std::optional<std::string> semver_problem(std::string_view version);

// License ids (with an optional '+'), LicenseRef-/DocumentRef- references,
// AND, OR, WITH and parentheses; nothing for a valid expression.
[[nodiscard]] std::optional<std::string> license_problem(std::string_view expression);

}  // namespace airssys::wasm::security::detail
