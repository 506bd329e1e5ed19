#pragma once
// Turning API JSON into text for people: aligned tables from JSON arrays with column specs, and
// "Key:  value" listings for objects. `-o json` bypasses all of this.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace netagent::netctl {

// Formats a cell from the selected value (and the whole row, for derived columns).
using CellFormat =
    std::function<std::string(const nlohmann::json& value, const nlohmann::json& row)>;

struct Column {
  std::string header;  // "FRONTEND"
  // Which value of the row: a key ("name"), a JSON pointer ("/spec/port"), or "" for the row.
  std::string field;
  CellFormat format = nullptr;  // default: text()
};

// A scalar as text: strings verbatim, numbers and booleans as JSON writes them, null and missing
// values as "-", arrays joined with ", ", objects as "k=v, k=v".
std::string text(const nlohmann::json& v);
// The value `field` selects in `row` (null when absent).
nlohmann::json select(const nlohmann::json& row, const std::string& field);

// Rows of `rows` (an array of objects) as a table with a header line; columns separated by two
// spaces, left-aligned. A cell whose text has newlines spans several lines (e.g. one backend per
// line). An empty array renders just the header.
std::string render_table(const nlohmann::json& rows, const std::vector<Column>& columns);

// "Header:  value" lines for the given (header, field) pairs of an object, values aligned; with
// no pairs, every top-level key of the object in order.
std::string render_fields(const nlohmann::json& object,
                          const std::vector<std::pair<std::string, std::string>>& fields = {});

// Ready-made cell formats.
CellFormat join(const std::string& separator);  // arrays joined (e.g. ", ")
CellFormat lines();                             // arrays one element per line
CellFormat duration();                          // seconds -> "3d4h", "5m3s", "250ms"
CellFormat labels();                            // {"k": "v"} -> "k=v,k=v" (sorted)

std::string format_duration(double seconds);

}  // namespace netagent::netctl
