#include "switchyard/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>

namespace sy {

Profile summarizeProfile(const std::vector<TraceEvent>& events, int64_t runs) {
  Profile p;
  p.runs = runs;
  struct RegionSum {
    std::string backend, name;
    double us = 0, stepUs = 0;
    int64_t count = 0;
    bool steps = false;
  };
  std::map<int, RegionSum> regions;
  std::map<std::tuple<std::string, std::string, std::string>, ProfileRow> steps;
  for (const TraceEvent& e : events) {
    if (e.region < 0) continue;  // transfers, runs
    RegionSum& r = regions[e.region];
    if (e.step) {
      r.steps = true;
      r.stepUs += e.durationUs;
      // "cpu steps" -> "cpu"
      std::string backend = e.lane;
      if (const size_t at = backend.rfind(" steps"); at != std::string::npos && at + 6 == backend.size())
        backend.resize(at);
      ProfileRow& row = steps[{backend, e.name, e.detail}];
      row.kind = ProfileRow::Kind::Step;
      row.backend = backend;
      row.what = e.name;
      row.detail = e.detail;
      row.count += 1;
      row.totalUs += e.durationUs;
    } else {
      r.backend = e.lane;
      r.name = e.name;
      r.us += e.durationUs;
      r.count += 1;
    }
  }
  std::map<std::string, ProfileRow> outside;  // per backend
  for (auto& [id, r] : regions) {
    p.regionUs += r.us;
    if (!r.steps) {
      ++p.regionsWithoutSteps;
      ProfileRow row;
      row.kind = ProfileRow::Kind::Region;
      row.backend = r.backend;
      row.what = r.name.empty() ? "region " + std::to_string(id) : r.name;
      row.count = r.count;
      row.totalUs = r.us;
      p.rows.push_back(std::move(row));
      continue;
    }
    ++p.regionsWithSteps;
    p.stepUs += r.stepUs;
    ProfileRow& row = outside[r.backend];
    row.kind = ProfileRow::Kind::OutsideSteps;
    row.backend = r.backend;
    row.what = "outside steps (inputs, outputs, dispatch)";
    row.count += r.count;
    // The steps of a region run inside its event; timer granularity aside,
    // the difference is never negative.
    row.totalUs += std::max(0.0, r.us - r.stepUs);
  }
  for (auto& [key, row] : steps) p.rows.push_back(std::move(row));
  for (auto& [backend, row] : outside) p.rows.push_back(std::move(row));
  // The shares are of the regions' time; step events that outlast their
  // region (clock granularity) are measured against the larger sum.
  double total = 0;
  for (const ProfileRow& row : p.rows) total += row.totalUs;
  total = std::max(total, p.regionUs);
  for (ProfileRow& row : p.rows) row.sharePercent = total > 0 ? 100.0 * row.totalUs / total : 0.0;
  std::stable_sort(p.rows.begin(), p.rows.end(),
                   [](const ProfileRow& a, const ProfileRow& b) { return a.totalUs > b.totalUs; });
  return p;
}

std::string formatProfile(const Profile& p, size_t maxRows) {
  std::string out;
  char line[512];
  const double runs = static_cast<double>(std::max<int64_t>(p.runs, 1));
  std::snprintf(line, sizeof(line),
                "profile:    %lld runs, %.3f ms per run in regions; %d region%s with per-step timings "
                "(%.1f%% of the time in reported steps), %d without\n",
                static_cast<long long>(p.runs), p.regionUs / 1000.0 / runs, p.regionsWithSteps,
                p.regionsWithSteps == 1 ? "" : "s", p.regionUs > 0 ? 100.0 * p.stepUs / p.regionUs : 0.0,
                p.regionsWithoutSteps);
  out += line;
  std::snprintf(line, sizeof(line), "  %6s  %10s  %6s  %-10s  %s\n", "share", "ms/run", "count", "backend",
                "step (op(s): shapes)");
  out += line;
  const size_t shown = maxRows == 0 ? p.rows.size() : std::min(maxRows, p.rows.size());
  for (size_t i = 0; i < shown; ++i) {
    const ProfileRow& r = p.rows[i];
    std::string what = r.what;
    if (!r.detail.empty()) what += ": " + r.detail;
    std::snprintf(line, sizeof(line), "  %5.1f%%  %10.4f  %6lld  %-10s  %s\n", r.sharePercent, r.totalUs / 1000.0 / runs,
                  static_cast<long long>(r.count / std::max<int64_t>(p.runs, 1)), r.backend.c_str(), what.c_str());
    out += line;
  }
  if (shown < p.rows.size()) {
    double share = 0, us = 0;
    for (size_t i = shown; i < p.rows.size(); ++i) {
      share += p.rows[i].sharePercent;
      us += p.rows[i].totalUs;
    }
    std::snprintf(line, sizeof(line), "  %5.1f%%  %10.4f  %6s  %-10s  (%zu more rows; --profile-rows 0 shows all)\n", share,
                  us / 1000.0 / runs, "", "", p.rows.size() - shown);
    out += line;
  }
  return out;
}

}  // namespace sy
