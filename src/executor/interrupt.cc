#include "executor/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace dsb {

namespace {

std::atomic<int> g_interrupts{0};

void OnSignal(int signal_number) {
  if (g_interrupts.fetch_add(1) >= 1) {
    // Second signal: the user wants out now. Everything on disk is already
    // consistent (transactions, atomic renames), so skip destructors.
    _exit(128 + signal_number);
  }
  static const char kMessage[] =
      "\ndataset-build: interrupted; finishing the manifest write in progress "
      "(press Ctrl-C again to stop at once)\n";
  ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;
}

}  // namespace

void InstallInterruptHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool InterruptRequested() { return g_interrupts.load() > 0; }
void RequestInterrupt() { g_interrupts.store(1); }
void ClearInterrupt() { g_interrupts.store(0); }

}  // namespace dsb
