#include "switchyard/fatal_signal.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace sy {
namespace {

// initial-exec: reading it in a signal handler never allocates.
__attribute__((tls_model("initial-exec"))) thread_local const PluginCallScope* tCurrent = nullptr;

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
struct sigaction gPrevious[sizeof(kSignals) / sizeof(kSignals[0])];

const char* signalName(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "a fatal signal";
  }
}

/// Appends to a fixed buffer without allocating (async-signal-safe).
struct Line {
  char text[512];
  size_t used = 0;
  void add(const char* s) {
    while (s && *s && used + 1 < sizeof text) text[used++] = *s++;
  }
  void add(long v) {
    char digits[24];
    int n = 0;
    const bool negative = v < 0;
    unsigned long u = negative ? 0ul - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u && n < 22);
    if (negative) digits[n++] = '-';
    while (n > 0 && used + 1 < sizeof text) text[used++] = digits[--n];
  }
};

void onFatalSignal(int sig, siginfo_t* info, void* context) {
  const int savedErrno = errno;
  if (const PluginCallScope* c = tCurrent) {
    Line line;
    line.add("switchyard: fatal signal ");
    line.add(signalName(sig));
    line.add(" in plugin '");
    line.add(c->plugin);
    line.add("' during ");
    line.add(c->call);
    if (c->region >= 0) {
      line.add(" of region ");
      line.add(static_cast<long>(c->region));
    }
    line.add(" (run it with 'isolation: process' to keep the host alive)\n");
    ssize_t ignored = ::write(STDERR_FILENO, line.text, line.used);
    (void)ignored;
  }
  size_t i = 0;
  while (i < sizeof(kSignals) / sizeof(kSignals[0]) && kSignals[i] != sig) ++i;
  if (i < sizeof(kSignals) / sizeof(kSignals[0])) {
    const struct sigaction& prev = gPrevious[i];
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
      errno = savedErrno;
      prev.sa_sigaction(sig, info, context);  // e.g. a sanitizer's report
      return;
    }
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
      errno = savedErrno;
      prev.sa_handler(sig);
      return;
    }
  }
  // Die as without the handler: the default action, re-raised. A fault
  // re-executes its instruction on return; raise() covers abort() and kill.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
  errno = savedErrno;
}

}  // namespace

PluginCallScope::PluginCallScope(const char* pluginName, const char* callName, int regionId)
    : plugin(pluginName), call(callName), region(regionId), previous(tCurrent) {
  tCurrent = this;
}

PluginCallScope::~PluginCallScope() { tCurrent = previous; }

void installFatalSignalHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); ++i) {
      struct sigaction sa {};
      sa.sa_sigaction = onFatalSignal;
      sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
      sigemptyset(&sa.sa_mask);
      ::sigaction(kSignals[i], &sa, &gPrevious[i]);
    }
  });
}

}  // namespace sy
