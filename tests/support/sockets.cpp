#include "support/sockets.hpp"

#include <dirent.h>
#include <cstdio>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace recd::test {

namespace {

// The inodes of the sockets among the process's open files.
std::set<unsigned long> socket_inodes(pid_t pid) {
  std::set<unsigned long> out;
  const auto dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return out;
  while (auto* entry = ::readdir(d)) {
    char target[128];
    auto path = dir + "/" + entry->d_name;
    auto n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1)
      out.insert(inode);
  }
  ::closedir(d);
  return out;
}

} // namespace

bool connected_to(pid_t pid, std::uint16_t port) {
  const auto mine = socket_inodes(pid);
  // Lines of /proc/<pid>/net/tcp: "sl local rem st ... uid timeout inode";
  // addresses as hex "AABBCCDD:PORT" (the address in host byte order).
  std::ifstream in{"/proc/" + std::to_string(pid) + "/net/tcp"};
  std::string line;
  std::getline(in, line); // the header
  while (std::getline(in, line)) {
    std::istringstream row{line};
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    if (!(row >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode))
      continue;
    if (state != "01" || mine.count(inode) == 0) // 01: ESTABLISHED
      continue;
    const auto colon = remote.find(':');
    if (colon == std::string::npos)
      continue;
    const auto address = std::stoul(remote.substr(0, colon), nullptr, 16);
    const auto remote_port = std::stoul(remote.substr(colon + 1), nullptr, 16);
    if (address == 0x0100007FUL && remote_port == port) // 127.0.0.1, little-endian
      return true;
  }
  return false;
}

} // namespace recd::test
