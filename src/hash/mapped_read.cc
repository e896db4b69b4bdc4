#include "hash/mapped_read.h"

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <mutex>

namespace dsb {
namespace {

struct Guard {
  sigjmp_buf resume;
  const std::uint8_t* begin = nullptr;
  const std::uint8_t* end = nullptr;
};

// The guard of this thread's ReadMappedGuarded, or null. initial-exec: the
// handler reads it, and a TLS access there must never allocate.
thread_local Guard* tls_guard __attribute__((tls_model("initial-exec"))) =
    nullptr;

// The SIGBUS disposition before ours, to hand other faults to.
struct sigaction previous_action;

void OnSigbus(int signal_number, siginfo_t* info, void* ucontext) {
  Guard* guard = tls_guard;
  const auto* address = static_cast<const std::uint8_t*>(info->si_addr);
  if (guard != nullptr && address >= guard->begin && address < guard->end) {
    siglongjmp(guard->resume, 1);
  }
  // Not a page of a guarded read: behave as the disposition before ours.
  if ((previous_action.sa_flags & SA_SIGINFO) != 0) {
    if (previous_action.sa_sigaction != nullptr) {
      previous_action.sa_sigaction(signal_number, info, ucontext);
    }
    return;
  }
  if (previous_action.sa_handler != SIG_DFL &&
      previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(signal_number);
    return;
  }
  // The default action (a fault cannot be ignored either): restore it and
  // raise again; the signal stays pending until this handler returns, then
  // ends the process as if this module had never been there.
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigaction(SIGBUS, &default_action, nullptr);
  raise(SIGBUS);
}

void InstallHandlerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_action);
  });
}

}  // namespace

bool ReadMappedGuarded(std::span<const std::uint8_t> bytes,
                       void (*read)(std::span<const std::uint8_t> bytes,
                                    void* context),
                       void* context) {
  InstallHandlerOnce();
  Guard guard;
  guard.begin = bytes.data();
  guard.end = bytes.data() + bytes.size();
  // savemask = 1: the jump back restores the signal mask, which the kernel
  // set to block SIGBUS while the handler ran.
  if (sigsetjmp(guard.resume, 1) != 0) {
    tls_guard = nullptr;
    return false;
  }
  tls_guard = &guard;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  read(bytes, context);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_guard = nullptr;
  return true;
}

}  // namespace dsb
