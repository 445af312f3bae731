#include "switchyard/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sy {

namespace {

const char* kindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

Result<std::string> readRegularFile(const std::string& path, uint64_t maxBytes, std::string_view what,
                                    std::string_view limitHint) {
  const std::string label = std::string(what) + (what.empty() ? "" : " ") + path;
  // O_NONBLOCK: opening a FIFO with no writer must not wait for one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return notFound(label, ": no such file");
    return invalidArgument(label, ": cannot open: ", std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return invalidArgument(label, ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return invalidArgument(label, ": is ", kindOf(st.st_mode), ", not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > maxBytes)
    return invalidArgument(label, ": the file is ", size, " bytes, more than the ", maxBytes, " allowed",
                           limitHint.empty() ? "" : " (", limitHint, limitHint.empty() ? "" : ")");
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc&) {
    return resourceExhausted(label, ": cannot allocate ", size, " bytes to read it");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return invalidArgument(label, ": read error: ", std::strerror(errno));
    }
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace sy
