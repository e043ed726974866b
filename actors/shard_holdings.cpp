// shard_state's holdings: the partitions a shard loads (install), takes over
// (merge), gives away (drop) and the job results it installs over them. Each
// held partition's users and items are in their own arenas (held_table): a
// merge adopts a snapshot's partitions as they are, a drop unmaps them whole.
#include "actors/shard_state.hpp"

#include <algorithm>
#include <cmath>

namespace recd {

void shard_state::install(shard_snapshot&& snap) {
  users_ = std::move(snap.users);
  items_ = std::move(snap.items);
  index_ = std::move(snap.index);
  popularity_epoch_ = snap.popularity_epoch;
  holdings_changed();
  restricted_ = std::move(snap.restricted);
  item_categories_.clear();
  for (const auto& [id, names] : snap.categories)
    set_categories(id, names);
  holdings_changed();
  loaded_epoch_ = snap.catalog_epoch;
  synced_to(snap.catalog_epoch);
}

void shard_state::merge(shard_snapshot&& snap) {
  // Restrictions: the newer snapshot is authoritative for every item whose
  // last known change it includes; pushes newer than it are kept.
  if (snap.catalog_epoch >= loaded_epoch_) {
    std::erase_if(restricted_, [&](const auto& kv) {
      return kv.second.second <= snap.catalog_epoch && snap.restricted.count(kv.first) == 0;
    });
    loaded_epoch_ = snap.catalog_epoch;
  }
  for (auto& [id, entry] : snap.restricted) {
    auto [it, fresh] = restricted_.try_emplace(id, entry);
    if (!fresh && it->second.second < entry.second)
      it->second = entry;
  }
  for (const auto& [id, names] : snap.categories)
    set_categories(id, names);
  holdings_changed();
  // The merged partitions' owned items are as of the snapshot; the other
  // partitions' changes since synced_epoch_ are still read by the poll.
  double half_life = cfg_.popularity_half_life_days * 86400.0;
  double rescale = std::exp2(double(snap.popularity_epoch - popularity_epoch_) / half_life);
  for (auto& [id, item] : snap.items)
    item.popularity *= rescale;
  take(users_, std::move(snap.users));
  take(items_, std::move(snap.items));
  rebuild_index();
  holdings_changed();
}

// The snapshot's partitions join the table as they are (their arenas with
// them) when both count partitions alike and the table holds none of them;
// otherwise (a table made without a count, or a partition held twice) the
// records are copied in, into this table's arenas.
template <class Record>
void shard_state::take(held_table<Record>& into, held_table<Record>&& from) {
  if (into.empty() && into.partition_count() != from.partition_count()) {
    into = std::move(from);
    return;
  }
  if (into.partition_count() == from.partition_count())
    for (std::uint32_t p = 0; p < from.partition_count(); ++p)
      if (from.holds(p) && !into.holds(p))
        into.adopt(p, from.release(p));
  for (auto& [id, record] : from)
    into[id] = std::move(record);
}

std::size_t shard_state::drop(const std::vector<std::uint32_t>& partitions,
                              std::uint32_t partition_count) {
  auto dropped = [&](std::int32_t id) {
    return std::find(partitions.begin(), partitions.end(), partition_of(id, partition_count)) !=
           partitions.end();
  };
  std::size_t gone = 0, bytes = 0;
  auto forget = [&](auto& table) {
    if (table.partition_count() != partition_count) {
      gone += erase_if(table, [&](const auto& kv) { return dropped(kv.first); });
      return;
    }
    for (auto p : partitions)
      if (auto taken = table.release(p)) { // its arena is unmapped at the end of the scope
        gone += taken->records.size() + 1;
        bytes += taken->arena.mapped();
      }
  };
  forget(items_);
  forget(users_);
  if (gone == 0)
    return bytes;
  rebuild_index();
  holdings_changed();
  return bytes;
}

void shard_state::rebuild_index() {
  std::int32_t dim = 0;
  std::size_t count = 0;
  for (const auto& [id, item] : items_)
    if (!item.embedding.empty()) {
      dim = static_cast<std::int32_t>(item.embedding.size());
      ++count;
    }
  if (count == 0) {
    index_.reset();
    return;
  }
  index_ = std::make_shared<vector_index>(dim, count);
  for (const auto& [id, item] : items_)
    if (item.embedding.size() == static_cast<std::size_t>(dim))
      index_->add(id, item.embedding);
}

void shard_state::install(neighbour_update&& update) {
  if (item_side(update.kind)) {
    for (auto& [id, item] : items_) {
      auto it = update.rows.find(id);
      if (it == update.rows.end())
        assign_exact(item.neighbours, std::vector<neighbour_item>{});
      else
        assign_exact(item.neighbours, it->second);
    }
  } else {
    for (auto& [id, user] : users_) {
      auto it = update.rows.find(id);
      assign_exact(user.similar, it == update.rows.end() ? std::vector<scored_user>{}
                                                         : similar_users(it->second));
    }
    // Users known only by their neighbours (no behavior loaded) still get them.
    for (auto& [id, rows] : update.rows)
      if (users_.count(id) == 0)
        assign_exact(users_[id].similar, similar_users(rows));
  }
}

void shard_state::install(embedding_update&& update) {
  // Published vectors replace folded ones; items the run left out keep a
  // vector only if the loader folded one from the newly published tastes.
  for (auto& [id, item] : items_) {
    auto it = update.items.find(id);
    assign_exact(item.embedding, it == update.items.end() ? std::vector<float>{} : it->second);
    item.folded = false;
    if (it == update.items.end())
      if (auto f = update.folded.find(id); f != update.folded.end()) {
        assign_exact(item.embedding, f->second);
        item.folded = true;
      }
  }
  for (auto& [id, vec] : update.users)
    assign_exact(users_[id].vec, vec);
  index_ = std::move(update.index);
}

} // namespace recd
