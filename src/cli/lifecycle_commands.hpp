#pragma once

#include <CLI/CLI.hpp>

namespace airssys::wasm::cli {

// serve, install, list, info, start, stop, upgrade, rollback, uninstall, send,
// metrics. A command's exit code is written to *exit_code when it runs.
void add_lifecycle_commands(CLI::App& app, int* exit_code);

}  // namespace airssys::wasm::cli
