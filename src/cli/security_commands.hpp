#pragma once

#include <CLI/CLI.hpp>

#include "common.hpp"

namespace airssys::wasm::cli {

// validate, inspect, keygen, sign, verify, trust, approvals, policy check.
// A command's exit code is written to *exit_code when it runs.
void add_security_commands(CLI::App& app, int* exit_code);

// --trust-config, --policy, --data-dir, --audit-log.
void add_host_options(CLI::App* cmd, HostPaths* paths);

}  // namespace airssys::wasm::cli
