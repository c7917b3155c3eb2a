// Between shared_dict.cpp, which owns the dict's internals, and
// shared_dict_views.cpp (keys, values, items, snapshot), which only decodes.
#pragma once

#include <cstdint>
#include <vector>

namespace procpool::detail {

struct dict_header;

/// Every entry as [u32 key_len][u32 value_len][key][value, if with_values] in
/// one private buffer, copied under one hold of the dict's lock (so the
/// snapshots agree with each other) and decoded after it is released.
std::vector<std::uint8_t> dict_raw_entries(dict_header* h, const char* name, bool with_values);

}  // namespace procpool::detail
