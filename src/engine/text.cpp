// The WebAssembly text format, turned into the binary format that both tiers
// load. The text parser recurses once per nesting level, so the text is
// measured first and parsed on a stack of its own.

#include <wabt/binary-writer.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>
#include <wabt/wast-lexer.h>
#include <wabt/wast-parser.h>

#include <fmt/format.h>

#include <optional>

#include "metering.hpp"

namespace airssys::wasm::engine::detail {
namespace {

bool is_word_char(char c) {
  return c != '(' && c != ')' && c != ';' && c != '"' && c != ' ' && c != '\t' && c != '\n' &&
         c != '\r';
}

std::string text_errors(const wabt::Errors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{}:{}:{}: {}", e.loc.filename, e.loc.line, e.loc.first_column, e.message);
  }
  return out;
}

Result<std::vector<uint8_t>> wat_to_binary_here(std::string_view text, std::string_view name,
                                                const wabt::Features& features) {
  wabt::Errors errors;
  auto lexer = wabt::WastLexer::CreateBufferLexer(name, text.data(), text.size(), &errors);
  wabt::WastParseOptions parse_options(features);
  std::unique_ptr<wabt::Module> module;
  wabt::Result parsed = wabt::Result::Error;
  try {
    parsed = wabt::ParseWatModule(lexer.get(), &module, &errors, &parse_options);
  } catch (const std::exception& e) {
    // wabt's text parser throws on some malformed input (e.g. a broken
    // annotation makes it build an absurd string); found by fuzz_wat_loader.
    return make_error(ErrorCode::WatSyntax,
                      fmt::format("{}: the text could not be parsed ({})", name, e.what()));
  }
  if (wabt::Failed(parsed)) return make_error(ErrorCode::WatSyntax, text_errors(errors));
  wabt::ValidateOptions validate_options(features);
  if (wabt::Failed(wabt::ValidateModule(module.get(), &errors, validate_options))) {
    return make_error(ErrorCode::InvalidModule, text_errors(errors));
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, true, false, /*write_debug_names=*/true);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, module.get(), write_options))) {
    return make_error(ErrorCode::InternalError, fmt::format("{}: encoding failed", name));
  }
  return std::move(stream.output_buffer().data);
}

}  // namespace

uint64_t text_nesting(std::string_view text) {
  uint64_t parens = 0, flat = 0, deepest = 0;
  bool after_open = false;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ';' && i + 1 < text.size() && text[i + 1] == ';') {  // line comment
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '(' && i + 1 < text.size() && text[i + 1] == ';') {  // block comment
      uint64_t open = 0;
      while (i < text.size()) {
        if (text.compare(i, 2, "(;") == 0) {
          ++open;
          i += 2;
        } else if (text.compare(i, 2, ";)") == 0) {
          i += 2;
          if (--open == 0) break;
        } else {
          ++i;
        }
      }
    } else if (c == '"') {  // string
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
      ++i;
      after_open = false;
    } else if (c == '(') {
      ++parens;
      after_open = true;
      ++i;
    } else if (c == ')') {
      if (parens > 0) --parens;
      after_open = false;
      ++i;
    } else if (is_word_char(c)) {
      size_t end = i;
      while (end < text.size() && is_word_char(text[end])) ++end;
      std::string_view word = text.substr(i, end - i);
      // A folded block is counted by its parenthesis; a plain one opens with
      // its keyword and closes with `end`.
      if (!after_open && (word == "block" || word == "loop" || word == "if" || word == "try")) {
        ++flat;
      } else if (word == "end" && flat > 0) {
        --flat;
      }
      after_open = false;
      i = end;
    } else {
      ++i;
    }
    deepest = std::max(deepest, parens + flat);
  }
  return deepest;
}

Result<std::vector<uint8_t>> wat_to_binary(std::string_view text, std::string_view name,
                                           const wabt::Features& features) {
  // A few levels for the module, the function and the operands around the
  // blocks themselves.
  constexpr uint64_t kTextNestingSlack = 64;
  if (uint64_t depth = text_nesting(text); depth > kMaxBlockNesting + kTextNestingSlack) {
    return make_error(ErrorCode::ModuleTooComplex,
                      fmt::format("{}: the text nests {} levels deep; the engine accepts at most "
                                  "{} nested blocks in a function",
                                  name, depth, kMaxBlockNesting));
  }
  std::optional<Result<std::vector<uint8_t>>> out;
  if (!run_on_large_stack([&] { out.emplace(wat_to_binary_here(text, name, features)); })) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("{}: cannot start the text parser's thread", name));
  }
  return std::move(*out);
}

}  // namespace airssys::wasm::engine::detail
