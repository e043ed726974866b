#pragma once
// rules_book: a node's business rules (engine/rules.hpp) as loaded from
// rules.file, shared by its API actors (which read them per request) and the
// admin port (which shows and reloads them). Thread-safe: a reload swaps the
// whole rule set at once, so a request sees the old rules or the new ones,
// never a mix. Not an actor: reading the current rules is one mutex-guarded
// pointer copy, cheaper than a message on every request.
//
// A reload reads and parses the file; a bad file (or a missing one) is
// refused with the reason naming the offending line, and the old rules stay.
// A watch (reload_if_changed) reloads only when the file's bytes differ from
// the last ones read, so a refused file is refused (and logged) once, not at
// every look.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/rules.hpp"

namespace recd {

class rules_book {
public:
  using rules_ptr = std::shared_ptr<const rules::rule_set>;

  // No file: no rules, and reload() has nothing to read.
  explicit rules_book(std::string file = {});

  rules_ptr current() const;
  const std::string& file() const { return file_; }

  // Reads the file again: "" on success, else why it was refused
  // ("rules file F: line 3: ..."), the current rules kept.
  std::string reload();

  // What a watch does: nullopt when the file holds the bytes last read (by a
  // reload or a watch), else reload()'s answer for the new bytes.
  std::optional<std::string> reload_if_changed();

  // Successful reloads since start (the first load counts), and refused ones.
  std::uint64_t loads() const;
  std::uint64_t refusals() const;

private:
  // Parses `text` (nullopt: the file could not be read) and swaps it in.
  std::string load(std::optional<std::string> text);

  std::string file_;
  // Reloads run one at a time, so a slower one never swaps older bytes in
  // over a newer one's; mu_ guards the fields below for readers.
  std::mutex reload_mu_;
  mutable std::mutex mu_;
  rules_ptr rules_;
  std::optional<std::string> last_read_; // the file's bytes at the last read
  std::uint64_t loads_ = 0, refusals_ = 0;
};

} // namespace recd
