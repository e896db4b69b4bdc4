#include "common/shared_module.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <string>

namespace dsb {

namespace {

std::string BesideExecutable(const char* file_name) {
  char exe[PATH_MAX] = {};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string beside(exe, n > 0 ? static_cast<std::size_t>(n) : 0);
  return beside.substr(0, beside.rfind('/') + 1) + file_name;
}

}  // namespace

Result<void*> LoadModuleEntry(const char* what, const char* built_path,
                              const char* file_name, const char* entry) {
  std::string tried = built_path;
  void* module = ::dlopen(built_path, RTLD_NOW | RTLD_LOCAL);
  std::string why = module == nullptr ? ::dlerror() : "";
  if (module == nullptr) {
    const std::string beside = BesideExecutable(file_name);
    module = ::dlopen(beside.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module == nullptr) {
      tried += " or " + beside;
      why += "; " + std::string(::dlerror());
    }
  }
  if (module == nullptr) {
    return Status::Unsupported(std::string("cannot load ") + what + " (" +
                               tried + "): " + why);
  }
  // Never unloaded: what it made may live until exit.
  void* address = ::dlsym(module, entry);
  if (address == nullptr) {
    return Status::Internal(std::string("the module of ") + what +
                            " has no entry point " + entry);
  }
  return address;
}

}  // namespace dsb
