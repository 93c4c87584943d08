#pragma once

#include <CLI/CLI.hpp>

#include "common.hpp"

namespace airssys::wasm::cli {

// `audit`: the audit log, filtered. Its exit code is written to *exit_code.
void add_audit_command(CLI::App& app, int* exit_code);

}  // namespace airssys::wasm::cli
