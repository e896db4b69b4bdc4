#include "mask/mask_names.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdint>

namespace dsb {

namespace {

// Room for the readable part: 3 stems of this length, 3 "__" separators,
// 32 hex digits and ".png" make 60 * 3 + 6 + 32 + 4 = 222 bytes.
constexpr std::size_t kStemBytes = 60;

bool IsSafeByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' || c == '-';
}

std::string_view LastComponent(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The file name without its extension ("a.b.ARW" -> "a.b"), unless that
// leaves nothing.
std::string_view Stem(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return name;
  return name.substr(0, dot);
}

// Each string is prefixed by its length so that ("ab", "c") and ("a", "bc")
// hash differently.
void AppendField(std::string& out, std::string_view field) {
  const std::uint64_t size = field.size();
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
  }
  out.append(field);
}

std::string Hex128(XXH128_hash_t hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t word = i < 8 ? hash.high64 : hash.low64;
    const int shift = 8 * (7 - (i % 8));
    const unsigned byte = static_cast<unsigned>((word >> shift) & 0xff);
    out[2 * i] = kDigits[byte >> 4];
    out[2 * i + 1] = kDigits[byte & 0xf];
  }
  return out;
}

}  // namespace

std::string SanitizeNameStem(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  bool in_bad_run = false;
  for (const char ch : text) {
    if (out.size() >= max_bytes) break;
    const auto c = static_cast<unsigned char>(ch);
    if (IsSafeByte(c)) {
      // A name must not start like a hidden file or an option.
      if (out.empty() && (c == '.' || c == '-' || c == '_')) continue;
      out.push_back(ch);
      in_bad_run = false;
    } else if (!in_bad_run && !out.empty()) {
      out.push_back('_');
      in_bad_run = true;
    }
  }
  return out;
}

std::string MaskFileName(std::string_view scene, std::string_view gt_rel_path,
                         std::string_view noisy_rel_path) {
  std::string key;
  key.reserve(scene.size() + gt_rel_path.size() + noisy_rel_path.size() + 24);
  AppendField(key, scene);
  AppendField(key, gt_rel_path);
  AppendField(key, noisy_rel_path);
  const XXH128_hash_t hash = XXH3_128bits(key.data(), key.size());

  std::string name;
  for (const std::string_view part : {scene, Stem(LastComponent(gt_rel_path)),
                                      Stem(LastComponent(noisy_rel_path))}) {
    std::string stem = SanitizeNameStem(part, kStemBytes);
    name += stem.empty() ? "x" : stem;
    name += "__";
  }
  name += Hex128(hash);
  name += ".png";
  return name;
}

}  // namespace dsb
