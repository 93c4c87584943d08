#pragma once
// Names of enumerators, both ways, from one X-macro table per enum whose
// entries are X(enumerator, "name"), as AIRSSYS_ERROR_CODES is for the error
// codes:
//
//   #define AIRSSYS_TIERS(X) X(Tier::Interp, "interp") X(Tier::Native, "native")
//
//   std::string_view tier_name(Tier tier) {
//     switch (tier) { AIRSSYS_TIERS(AIRSSYS_ENUM_NAME_CASE) }  // every enumerator, or -Wswitch
//     return "?";
//   }
//   std::optional<Tier> parse_tier(std::string_view text) {
//     AIRSSYS_TIERS(AIRSSYS_ENUM_PARSE_IF)  // compares against `text`
//     return std::nullopt;
//   }

#define AIRSSYS_ENUM_NAME_CASE(value, name) \
  case value:                               \
    return name;

#define AIRSSYS_ENUM_PARSE_IF(value, name) \
  if (text == name) return value;
