// Crash isolation: every case group runs in a forked child that reports over
// a pipe, one line per event ("B <index>" when a case starts, "R <json>" when
// it ends). A child that dies (a signal, or an exit in the middle of a case)
// marks the case it was running as crashed; one that spends more than the
// timeout on a case is killed and the case marked timed out. Either way a new
// child takes the rest of the group, so one bad op never hides the others.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <nlohmann/json.hpp>

#include "internal.h"

namespace sy::conformance {

namespace {

void writeAll(int fd, const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

using Clock = std::chrono::steady_clock;

struct Child {
  pid_t pid = -1;
  int fd = -1;
  size_t group = 0;
  size_t nextPos = 0;       ///< position in the group of the first case without a result
  bool inCase = false;      ///< a case has begun and has no result yet
  size_t current = 0;       ///< case index of the case in progress
  Clock::time_point started;
  std::string buffer;
};

}  // namespace

void sendBegin(int fd, size_t index) { writeAll(fd, "B " + std::to_string(index) + "\n"); }

void sendResult(int fd, size_t index, const CaseResult& r) {
  nlohmann::json j;
  j["index"] = index;
  j["outcome"] = static_cast<int>(r.outcome);
  j["message"] = r.message;
  j["seconds"] = r.seconds;
  if (!r.details.empty()) j["details"] = r.details;
  if (r.hasWorst) {
    j["worst"] = {{"output", r.worst.output}, {"index", r.worst.index},         {"got", r.worst.got},
                  {"expected", r.worst.expected}, {"abs_error", r.worst.absError}, {"tolerance", r.worst.tolerance}};
    j["nmse"] = r.nmse;
  }
  // Non-finite numbers are not JSON: dump() writes them as null; read back as infinity.
  writeAll(fd, "R " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

namespace {

double numberOr(const nlohmann::json& j, const char* key, double dflt) {
  if (!j.contains(key) || !j[key].is_number()) return dflt;
  return j[key].get<double>();
}

void applyResultLine(const std::string& line, std::vector<CaseResult>& cases, size_t& indexOut) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.contains("index")) return;
  const size_t index = j["index"].get<size_t>();
  if (index >= cases.size()) return;
  CaseResult& r = cases[index];
  r.outcome = static_cast<Outcome>(j["outcome"].get<int>());
  r.message = j.value("message", "");
  r.seconds = numberOr(j, "seconds", 0);
  r.details = j.contains("details") && j["details"].is_string() ? j["details"].get<std::string>() : "";
  if (j.contains("worst")) {
    const auto& w = j["worst"];
    r.hasWorst = true;
    r.worst.output = w.value("output", "");
    r.worst.index = w.value("index", "");
    r.worst.got = numberOr(w, "got", NAN);
    r.worst.expected = numberOr(w, "expected", NAN);
    r.worst.absError = numberOr(w, "abs_error", INFINITY);
    r.worst.tolerance = numberOr(w, "tolerance", 0);
    r.nmse = numberOr(j, "nmse", INFINITY);
  }
  indexOut = index;
}

}  // namespace

void runIsolated(std::vector<CaseResult>& cases, const std::vector<std::vector<size_t>>& groups, int jobs,
                 double timeoutSeconds, bool quietChildren,
                 const std::function<void(const std::vector<size_t>& group, size_t from, int fd)>& childMain,
                 const std::function<void(size_t index)>& onResult) {
  std::deque<std::pair<size_t, size_t>> queue;  // (group, first position)
  for (size_t g = 0; g < groups.size(); ++g)
    if (!groups[g].empty()) queue.emplace_back(g, 0);
  std::vector<Child> children;
  if (jobs < 1) jobs = 1;
  const auto timeout = std::chrono::duration<double>(timeoutSeconds);

  auto spawn = [&](size_t group, size_t from) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      std::perror("switchyard-conformance: pipe");
      std::exit(2);
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      std::perror("switchyard-conformance: fork");
      std::exit(2);
    }
    if (pid == 0) {
      ::close(fds[0]);
      for (const Child& c : children) ::close(c.fd);
      if (quietChildren) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
          ::dup2(devnull, 1);
          ::dup2(devnull, 2);
          ::close(devnull);
        }
      }
      childMain(groups[group], from, fds[1]);
      ::close(fds[1]);
      _exit(0);
    }
    ::close(fds[1]);
    Child c;
    c.pid = pid;
    c.fd = fds[0];
    c.group = group;
    c.nextPos = from;
    children.push_back(std::move(c));
  };

  // The child is gone (exited, crashed or killed): settle its case in
  // progress and queue what is left of its group.
  auto settle = [&](Child& c, int waitStatus, bool timedOut) {
    const std::vector<size_t>& g = groups[c.group];
    if (c.inCase) {
      CaseResult& r = cases[c.current];
      r.seconds = std::chrono::duration<double>(Clock::now() - c.started).count();
      if (timedOut) {
        r.outcome = Outcome::TimedOut;
        r.message = "no result after " + std::to_string(static_cast<int>(timeoutSeconds)) + " s; the child was killed";
      } else if (WIFSIGNALED(waitStatus)) {
        r.outcome = Outcome::Crashed;
        r.message = std::string("the child died of signal ") + std::to_string(WTERMSIG(waitStatus)) + " (" +
                    strsignal(WTERMSIG(waitStatus)) + ")";
      } else {
        r.outcome = Outcome::Crashed;
        r.message = "the child exited with status " + std::to_string(WEXITSTATUS(waitStatus)) + " in the middle of the case";
      }
      r.hasWorst = false;
      onResult(c.current);
      c.nextPos = static_cast<size_t>(std::find(g.begin(), g.end(), c.current) - g.begin()) + 1;
      if (c.nextPos < g.size()) queue.emplace_front(c.group, c.nextPos);
    } else if (c.nextPos < g.size()) {
      // Exited between cases without finishing the group.
      CaseResult& r = cases[g[c.nextPos]];
      r.outcome = Outcome::Crashed;
      r.message = "the child exited (status " + std::to_string(waitStatus) + ") before running the case";
      onResult(g[c.nextPos]);
      if (c.nextPos + 1 < g.size()) queue.emplace_front(c.group, c.nextPos + 1);
    }
  };

  while (!queue.empty() || !children.empty()) {
    while (static_cast<int>(children.size()) < jobs && !queue.empty()) {
      auto [g, from] = queue.front();
      queue.pop_front();
      spawn(g, from);
    }
    std::vector<pollfd> pfds;
    for (const Child& c : children) pfds.push_back(pollfd{c.fd, POLLIN, 0});
    ::poll(pfds.data(), pfds.size(), 100);
    std::vector<size_t> finished;
    for (size_t k = 0; k < children.size(); ++k) {
      Child& c = children[k];
      bool eof = false;
      if (pfds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        const ssize_t n = ::read(c.fd, buf, sizeof(buf));
        if (n > 0) c.buffer.append(buf, static_cast<size_t>(n));
        else if (n == 0 || errno != EINTR) eof = true;
      }
      size_t nl;
      while ((nl = c.buffer.find('\n')) != std::string::npos) {
        const std::string line = c.buffer.substr(0, nl);
        c.buffer.erase(0, nl + 1);
        if (line.rfind("B ", 0) == 0) {
          c.current = std::stoul(line.substr(2));
          c.inCase = true;
          c.started = Clock::now();
        } else if (line.rfind("R ", 0) == 0) {
          size_t index = SIZE_MAX;
          applyResultLine(line.substr(2), cases, index);
          if (index != SIZE_MAX) {
            c.inCase = false;
            const std::vector<size_t>& g = groups[c.group];
            c.nextPos = static_cast<size_t>(std::find(g.begin(), g.end(), index) - g.begin()) + 1;
            onResult(index);
          }
        }
      }
      if (eof) {
        int status = 0;
        ::waitpid(c.pid, &status, 0);
        ::close(c.fd);
        settle(c, status, false);
        finished.push_back(k);
      } else if (c.inCase && Clock::now() - c.started > timeout) {
        ::kill(c.pid, SIGKILL);
        int status = 0;
        ::waitpid(c.pid, &status, 0);
        ::close(c.fd);
        settle(c, status, true);
        finished.push_back(k);
      }
    }
    for (size_t k = finished.size(); k-- > 0;) children.erase(children.begin() + static_cast<long>(finished[k]));
  }
}

}  // namespace sy::conformance
