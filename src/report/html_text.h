// Turning untrusted bytes (scene and file names, error messages) into text
// that is safe to put in the report's HTML, inside its embedded JSON, and in
// file names.
//
// Names are hostile input: any bytes the OS allows, including quotes, '<',
// newlines and bytes that are not UTF-8. DisplayText makes them visible and
// valid UTF-8 (control characters and invalid bytes become \n, \xff, ...),
// EscapeHtml makes that text inert in HTML text and attribute values, and
// JsonForScript makes a JSON document safe inside a <script> element. No
// page ever inserts names as markup: the report's scripts use textContent.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace dsb {

// `bytes` as readable, valid UTF-8: valid UTF-8 sequences are kept, C0
// controls and DEL are written as \n, \t, \r or \xNN, bytes that do not
// start a valid UTF-8 sequence as \xNN, and a backslash as itself (so the
// result is for people, not for reversing).
std::string DisplayText(std::string_view bytes);

// Escapes &, <, >, " and ' (for text and quoted attribute values).
std::string EscapeHtml(std::string_view text);

// DisplayText then EscapeHtml: the one call pages use for any name.
std::string HtmlName(std::string_view bytes);

// A JSON text made safe to embed in <script type="application/json">:
// '<', '>' and '&' become \u003c, \u003e, \u0026 (no "</script>" or "<!--"
// can appear), which JSON.parse reads back unchanged.
std::string JsonForScript(std::string_view json);

// A file name for a scene's page: its last path component reduced to
// [A-Za-z0-9._-] (at most 40 characters) plus 16 hex digits of the hash of
// the exact bytes, so names never collide, never escape their folder and
// need no escaping in a URL: "<slug>-<hex16>".
std::string ScenePageStem(std::string_view scene);

}  // namespace dsb
