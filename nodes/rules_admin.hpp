#pragma once
// A node's business rules as an operator handles them (docs/rules.md): loaded
// from rules.file at start (a bad file stops the node from starting, naming
// the line), reloaded on SIGHUP or POST /admin/rules/reload (a bad file is
// refused and the old rules stay), shown by GET /admin/rules.

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/rules_book.hpp"
#include "config/settings.hpp"

namespace recd {

// The node's rules book: loaded from cfg.rules.file (empty: no rules, an
// empty book). Null, with the reason on stderr, if the file is refused.
std::shared_ptr<rules_book> load_rules(const settings& cfg);

// Reloads `book` on every SIGHUP for the rest of the process (a detached
// thread waiting for the signal; block_stop_signals blocks SIGHUP in every
// thread so only that thread receives it). Logs the outcome of each reload.
void reload_rules_on_hangup(std::shared_ptr<rules_book> book);

// Looks at the rules file every `interval` for the rest of the process (a
// detached thread) and reloads it when its bytes changed: a file rewritten
// in place or a Kubernetes ConfigMap update (an atomic symlink swap) reaches
// the node without a signal. A bad new file is refused once, logged, and the
// old rules stay.
void watch_rules_file(std::shared_ptr<rules_book> book, std::chrono::milliseconds interval);

// GET /admin/rules: {"file", "tag", "rules": [{"name","kind","line","rule"}], "loads", "refusals"}.
nlohmann::json describe_rules(const rules_book& book);

} // namespace recd
