// Line splitting and event validation for Kubernetes watch streams.
#include "api_watch_decoder.h"

#include <optional>

namespace bpfence {
namespace {

std::optional<WatchEvent::Type> parse_type(const std::string& t) {
  using T = WatchEvent::Type;
  if (t == "ADDED") return T::Added;
  if (t == "MODIFIED") return T::Modified;
  if (t == "DELETED") return T::Deleted;
  if (t == "BOOKMARK") return T::Bookmark;
  if (t == "ERROR") return T::Error;
  return std::nullopt;
}

}  // namespace

const char* watch_event_type_name(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::Added: return "ADDED";
    case WatchEvent::Type::Modified: return "MODIFIED";
    case WatchEvent::Type::Deleted: return "DELETED";
    case WatchEvent::Type::Bookmark: return "BOOKMARK";
    case WatchEvent::Type::Error: return "ERROR";
  }
  return "?";
}

void WatchStreamDecoder::reset() {
  line_.clear();
  overflow_ = false;
}

void WatchStreamDecoder::feed(std::string_view bytes, std::vector<WatchEvent>& events,
                              std::vector<std::string>& errors) {
  while (!bytes.empty()) {
    const size_t nl = bytes.find('\n');
    const std::string_view part = bytes.substr(0, nl);
    if (!overflow_) {
      if (line_.size() + part.size() > max_line_) {
        // Report once, then skip to the end of this line.
        overflow_ = true;
        line_.clear();
        errors.push_back("watch event " + std::to_string(line_number_ + 1) + ": longer than " +
                         std::to_string(max_line_) + " bytes, dropped");
      } else {
        line_.append(part);
      }
    }
    if (nl == std::string_view::npos) return;
    bytes.remove_prefix(nl + 1);
    if (overflow_) {
      overflow_ = false;
      ++line_number_;
    } else {
      finish_line(events, errors);
    }
  }
}

void WatchStreamDecoder::finish_line(std::vector<WatchEvent>& events, std::vector<std::string>& errors) {
  std::string line;
  line.swap(line_);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.find_first_not_of(" \t") == std::string::npos) return;  // keep-alive blank line
  const std::string where = "watch event " + std::to_string(++line_number_);
  nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    errors.push_back(where + ": not valid JSON");
    return;
  }
  if (!value.is_object()) {
    errors.push_back(where + ": not a JSON object");
    return;
  }
  auto type_it = value.find("type");
  if (type_it == value.end() || !type_it->is_string()) {
    errors.push_back(where + ": type: missing or not a string");
    return;
  }
  auto type = parse_type(type_it->get<std::string>());
  if (!type) {
    // The server's text goes to logs and /readyz: quoted with every control
    // and non-ASCII byte escaped (found by test/fuzz/fuzz_watch_events), and cut short.
    std::string text = type_it->get<std::string>();
    if (text.size() > 64) text = text.substr(0, 64) + "...";
    errors.push_back(where + ": type: unknown event type " +
                     nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace));
    return;
  }
  auto object_it = value.find("object");
  if (object_it == value.end() || !object_it->is_object()) {
    errors.push_back(where + ": object: missing or not a JSON object");
    return;
  }
  events.push_back(WatchEvent{*type, std::move(*object_it)});
}

}  // namespace bpfence
