#pragma once
// State files: written whole or not at all, readable by their owner only.
#include <string>
#include <string_view>

#include "netagent/common/result.hpp"

namespace netagent {

// Writes `text` to `path` atomically: a temporary file next to it (`path`.tmp) created with
// `mode` (fchmod-ed too, so a leftover temporary with other bits does not keep them), written,
// fsync-ed, then renamed over `path`. A crash leaves the old file or the new one, never half.
Status write_file_atomic(const std::string& path, std::string_view text, unsigned mode = 0600);

}  // namespace netagent
