#include "report/html_text.h"

#include <cstdio>

#include "hash/hash.h"
#include "manifest/export.h"

namespace dsb {

namespace {

std::size_t Utf8SequenceLength(std::string_view text) {
  // IsValidUtf8 on growing prefixes would be quadratic; check one sequence.
  const unsigned char b0 = static_cast<unsigned char>(text[0]);
  std::size_t length = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
  if (length > text.size()) return 0;
  return IsValidUtf8(text.substr(0, length)) ? length : 0;
}

void AppendHexByte(std::string& out, unsigned char byte) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "\\x%02x", byte);
  out += hex;
}

}  // namespace

std::string DisplayText(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      AppendHexByte(out, c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = Utf8SequenceLength(bytes.substr(i))) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      AppendHexByte(out, c);
      ++i;
    }
  }
  return out;
}

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string HtmlName(std::string_view bytes) {
  return EscapeHtml(DisplayText(bytes));
}

std::string JsonForScript(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 64);
  for (char c : json) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string ScenePageStem(std::string_view scene) {
  std::string_view last = scene;
  while (!last.empty() && last.back() == '/') last.remove_suffix(1);
  if (const std::size_t slash = last.rfind('/');
      slash != std::string_view::npos) {
    last.remove_prefix(slash + 1);
  }
  std::string slug;
  for (char c : last) {
    if (slug.size() >= 40) break;
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      (c == '.' && !slug.empty());
    slug += safe ? c : '_';
  }
  if (slug.empty()) slug = "scene";
  return slug + "-" + HashBytes(scene).ToHex().substr(0, 16);
}

}  // namespace dsb
