// Renderings of an eval result: terminal table, JSON, and an HTML page whose
// charts are inline SVG (no scripts, no network fetches).
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "nodes/cli_eval.hpp"

namespace recd {

namespace {

using json = nlohmann::json;

struct metric {
  const char* name;
  double (*get)(const model_figures&);
};
const metric metrics[] = {
  {"ndcg", [](const model_figures& f) { return f.scores.ndcg; }},
  {"precision", [](const model_figures& f) { return f.scores.precision; }},
  {"recall", [](const model_figures& f) { return f.scores.recall; }},
  {"hit_rate", [](const model_figures& f) { return f.scores.hit_rate; }},
  {"map", [](const model_figures& f) { return f.scores.ap; }},
  {"coverage", [](const model_figures& f) { return f.coverage; }},
};

std::string fixed(double x, int digits = 4) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s)
    out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return out;
}

// "the defaults", or the settings that differ from them.
std::string settings_line(const eval_result& r) {
  if (r.changed_settings.empty())
    return "the defaults";
  std::string out = "the defaults except";
  for (const auto& s : r.changed_settings)
    out += " " + s;
  return out;
}

} // namespace

std::string eval_table(const eval_result& r) {
  std::string out = "data: " + r.dataset + "\nsplit: " + r.split + " (" +
                    std::to_string(r.train_events) + " train events, " +
                    std::to_string(r.test_users) + " test users, catalogue " +
                    std::to_string(r.catalogue) + ")\nrecd: " + r.protocol + "\nsettings: " +
                    settings_line(r) + "\n";
  char line[256];
  if (!r.models.empty())
    for (const auto& [k, unused] : r.models.front().at) {
      (void)unused;
      std::snprintf(line, sizeof line, "\n%-18s %8s %8s %8s %8s %8s %8s   (k = %zu)\n", "model",
                    "NDCG", "Prec", "Recall", "Hit", "MAP", "Cover", k);
      out += line;
      for (const auto& m : r.models) {
        const auto& g = m.at.at(k);
        std::snprintf(line, sizeof line, "%-18s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n",
                      m.name.c_str(), g.scores.ndcg, g.scores.precision, g.scores.recall,
                      g.scores.hit_rate, g.scores.ap, g.coverage);
        out += line;
      }
    }
  if (!r.models.empty()) {
    out += "\nrecd routes: share of top-k slots where the route is the strongest / proposed the item";
    for (const auto& [k, f] : r.models.front().at) {
      out += "\n  k = " + std::to_string(k) + ":";
      for (const auto& [route, reach] : f.route_reach) {
        auto strongest = f.route_share.count(route) != 0 ? f.route_share.at(route) : 0.0;
        out += " " + route + " " + fixed(strongest, 3) + "/" + fixed(reach, 3);
      }
    }
    out += "\n";
  }
  std::snprintf(line, sizeof line,
                "\nseconds: train %.2f, recd recommendations %.2f, baselines %.2f, total %.2f; "
                "degraded answers %zu; users with under 20 unseen items served %zu\n",
                r.train_seconds, r.serve_seconds, r.baseline_seconds, r.total_seconds, r.degraded,
                r.short_lists);
  out += line;
  return out;
}

std::string eval_json(const eval_result& r) {
  json j;
  j["dataset"] = r.dataset;
  j["split"] = r.split;
  j["events"] = r.events;
  j["train_events"] = r.train_events;
  j["test_users"] = r.test_users;
  j["catalogue"] = r.catalogue;
  j["degraded"] = r.degraded;
  j["short_lists"] = r.short_lists;
  j["protocol"] = r.protocol;
  j["changed_settings"] = r.changed_settings;
  j["seconds"] = {{"train", r.train_seconds},
                  {"recommend", r.serve_seconds},
                  {"baselines", r.baseline_seconds},
                  {"total", r.total_seconds}};
  j["models"] = json::array();
  for (const auto& m : r.models) {
    json jm;
    jm["name"] = m.name;
    for (const auto& [k, f] : m.at) {
      json at;
      for (const auto& x : metrics)
        at[x.name] = x.get(f);
      if (!f.route_share.empty())
        at["route_share"] = f.route_share;
      if (!f.route_reach.empty())
        at["route_reach"] = f.route_reach;
      jm["at"][std::to_string(k)] = at;
    }
    j["models"].push_back(jm);
  }
  return j.dump(2);
}

std::string eval_html(const eval_result& r) {
  static const char* colors[] = {"#1f6feb", "#8b949e", "#d29922", "#3fb950", "#a371f7", "#f85149"};
  std::string out =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>recd eval</title>\n"
    "<style>body{font-family:sans-serif;margin:2em}svg{margin:0 1em 1em 0}"
    "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}</style></head><body>\n"
    "<h1>recd eval</h1>\n<p>data: " + escape(r.dataset) + "<br>split: " + escape(r.split) + " (" +
    std::to_string(r.train_events) + " train events, " + std::to_string(r.test_users) +
    " test users)<br>recd: " + escape(r.protocol) + "<br>settings: " + escape(settings_line(r)) +
    "<br>seconds: train " + fixed(r.train_seconds, 2) + ", recommendations " +
    fixed(r.serve_seconds, 2) + ", total " + fixed(r.total_seconds, 2) + "</p>\n";
  if (r.models.empty())
    return out + "</body></html>\n";
  for (const auto& [k, unused] : r.models.front().at) {
    (void)unused;
    out += "<h2>k = " + std::to_string(k) + "</h2>\n<div>";
    for (const auto& x : metrics) {
      // One chart per metric: a horizontal bar per model, scaled to the best.
      double best = 0;
      for (const auto& m : r.models)
        best = std::max(best, x.get(m.at.at(k)));
      const int row = 22, label = 130, width = 200;
      auto height = static_cast<int>(r.models.size()) * row + 24;
      out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(label + width + 60) +
             "\" height=\"" + std::to_string(height) + "\" role=\"img\"><text x=\"0\" y=\"14\" "
             "font-weight=\"bold\">" + std::string{x.name} + "@" + std::to_string(k) + "</text>";
      for (std::size_t i = 0; i < r.models.size(); ++i) {
        double v = x.get(r.models[i].at.at(k));
        int w = best > 0 ? static_cast<int>(width * v / best) : 0;
        int y = 22 + static_cast<int>(i) * row;
        out += "<text x=\"0\" y=\"" + std::to_string(y + 14) + "\" font-size=\"12\">" +
               escape(r.models[i].name) + "</text><rect x=\"" + std::to_string(label) + "\" y=\"" +
               std::to_string(y + 2) + "\" width=\"" + std::to_string(w) + "\" height=\"" +
               std::to_string(row - 6) + "\" fill=\"" + colors[i % 6] + "\"/><text x=\"" +
               std::to_string(label + w + 4) + "\" y=\"" + std::to_string(y + 14) +
               "\" font-size=\"12\">" + fixed(v) + "</text>";
      }
      out += "</svg>";
    }
    out += "</div>\n<table><tr><th>model</th>";
    for (const auto& x : metrics)
      out += "<th>" + std::string{x.name} + "</th>";
    out += "</tr>\n";
    for (const auto& m : r.models) {
      out += "<tr><td>" + escape(m.name) + "</td>";
      for (const auto& x : metrics)
        out += "<td>" + fixed(x.get(m.at.at(k))) + "</td>";
      out += "</tr>\n";
    }
    out += "</table>\n";
    const auto& f = r.models.front().at.at(k);
    if (!f.route_reach.empty()) {
      out += "<p>recd routes, share of top-" + std::to_string(k) +
             " slots where the route is the strongest / proposed the item:";
      for (const auto& [route, reach] : f.route_reach) {
        auto strongest = f.route_share.count(route) != 0 ? f.route_share.at(route) : 0.0;
        out += " " + escape(route) + " " + fixed(strongest, 3) + "/" + fixed(reach, 3);
      }
      out += "</p>\n";
    }
  }
  return out + "</body></html>\n";
}

} // namespace recd
