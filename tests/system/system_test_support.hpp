#pragma once
// What the system tests share: temporary data directories, component folders
// built from the test components, a signing key the trust configuration
// trusts, and the lines components print.

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../support/line_log.hpp"
#include "../support/temp_dir.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "airssys/wasm/security/trust.hpp"

namespace airssys::wasm::system::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const fs::path kComponents = AIRSSYS_TEST_COMPONENTS_DIR;

using airssys::wasm::test::TempDir;

inline void write_file(const fs::path& file, std::string_view text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

// The counter takes its commands from the host, and from `receive` too.
inline std::string counter_manifest(std::string_view name, std::string_view version,
                                    std::string_view receive = "\"host\"") {
  return "[component]\nname = \"" + std::string(name) + "\"\nversion = \"" +
         std::string(version) +
         "\"\n\n[capabilities]\nstorage.read = [\"counter:*\"]\nstorage.write = "
         "[\"counter:*\"]\nmessaging.receive = [" + std::string(receive) + "]\n";
}

// A component folder: the module, its manifest, and a signature when `keys`.
inline fs::path make_component(const fs::path& dir, const fs::path& module,
                               const std::string& manifest,
                               const security::KeyPair* keys = nullptr) {
  fs::create_directories(dir);
  fs::copy_file(module, dir / "component.wasm", fs::copy_options::overwrite_existing);
  write_file(dir / "Component.toml", manifest);
  if (keys) {
    auto record = security::sign_component(dir / "component.wasm", dir / "Component.toml", *keys);
    if (!record) throw std::runtime_error(record.error().message);
    auto ok = security::write_signature_file(dir / "component.sig", *record);
    if (!ok) throw std::runtime_error(ok.error().message);
  }
  return dir;
}

// A key pair, trusted by <data_dir>/trust.toml.
inline security::KeyPair trusted_keys(const fs::path& data_dir) {
  auto keys = security::generate_key_pair();
  if (!keys) throw std::runtime_error(keys.error().message);
  security::TrustConfig trust;
  if (!trust.add_key("release", keys->public_key)) throw std::runtime_error("add_key");
  if (!trust.save(data_dir / "trust.toml")) throw std::runtime_error("save trust");
  return std::move(*keys);
}

// Lines the components print ("<component>: <text>"), as a LogSink.
class Lines : public airssys::wasm::test::LineLog {
 public:
  host::LogSink sink() {
    return [this](const host::LogLine& line) {
      add_line(std::string(line.component) + ": " + std::string(line.text));
    };
  }
};

}  // namespace airssys::wasm::system::test
