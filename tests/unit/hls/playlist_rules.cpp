// SPDX-License-Identifier: LGPL-2.1-or-later
#include "playlist_rules.h"

#include <cmath>
#include <cstdlib>
#include <map>

#include "hls_test_feed.h"

namespace mirror::test {

namespace {

// Attribute value from "A=1,B=\"x\"" lists.
std::string
attr (const std::string &line, const std::string &name)
{
  auto colon = line.find (':');
  std::string list = colon == std::string::npos ? line : line.substr (colon + 1);
  size_t pos = 0;
  while (pos < list.size ()) {
    auto eq = list.find ('=', pos);
    if (eq == std::string::npos)
      break;
    std::string key = list.substr (pos, eq - pos);
    size_t end;
    std::string value;
    if (list[eq + 1] == '"') {
      end = list.find ('"', eq + 2);
      value = list.substr (eq + 2, end - eq - 2);
      end = end + 1;
    } else {
      end = list.find (',', eq);
      if (end == std::string::npos)
        end = list.size ();
      value = list.substr (eq + 1, end - eq - 1);
    }
    if (key == name)
      return value;
    pos = end + 1;
  }
  return "";
}

double
num (const std::string &s)
{
  return std::strtod (s.c_str (), nullptr);
}

struct ListedPart {
  double duration;
  bool independent;
  std::string uri;
};

} // namespace

std::string
server_control_line (const std::string &playlist)
{
  for (const std::string &l : lines_of (playlist))
    if (l.rfind ("#EXT-X-SERVER-CONTROL:", 0) == 0)
      return l;
  return "";
}

std::vector<std::string>
ll_hls_violations (const std::string &playlist)
{
  std::vector<std::string> bad;
  auto lines = lines_of (playlist);
  double target = -1, part_target = -1;
  std::string sc;
  for (const std::string &l : lines) {
    if (l.rfind ("#EXT-X-TARGETDURATION:", 0) == 0)
      target = num (l.substr (22));
    if (l.rfind ("#EXT-X-PART-INF:", 0) == 0)
      part_target = num (attr (l, "PART-TARGET"));
    if (l.rfind ("#EXT-X-SERVER-CONTROL:", 0) == 0)
      sc = l;
  }
  if (lines.empty () || lines[0] != "#EXTM3U")
    bad.push_back ("does not start with #EXTM3U");
  if (target <= 0 || target != std::floor (target))
    bad.push_back ("TARGETDURATION missing or not an integer");
  if (part_target <= 0)
    bad.push_back ("PART-TARGET missing");
  if (attr (sc, "CAN-BLOCK-RELOAD") != "YES")
    bad.push_back ("no CAN-BLOCK-RELOAD=YES");
  if (num (attr (sc, "PART-HOLD-BACK")) < 3 * part_target - 1e-9)
    bad.push_back ("PART-HOLD-BACK under 3 x PART-TARGET");
  if (num (attr (sc, "HOLD-BACK")) < 3 * target)
    bad.push_back ("HOLD-BACK under 3 x TARGETDURATION");
  if (num (attr (sc, "CAN-SKIP-UNTIL")) < 6 * target)
    bad.push_back ("CAN-SKIP-UNTIL under 6 x TARGETDURATION");

  // Walk segments: parts pile up until their segment's EXTINF.
  std::vector<ListedPart> pending;
  std::vector<double> seg_durations;  // complete segments, in order
  std::vector<bool> seg_listed_parts; // whether their parts were listed
  double open_duration = 0;
  for (size_t i = 0; i < lines.size (); ++i) {
    const std::string &l = lines[i];
    if (l.rfind ("#EXT-X-PART:", 0) == 0) {
      ListedPart p{ num (attr (l, "DURATION")), attr (l, "INDEPENDENT") == "YES", attr (l, "URI") };
      if (p.duration > part_target + 1e-9)
        bad.push_back (p.uri + " longer than PART-TARGET");
      pending.push_back (p);
    } else if (l.rfind ("#EXTINF:", 0) == 0) {
      double d = num (l.substr (8));
      if (std::lround (d) > target)
        bad.push_back ("EXTINF " + l + " rounds above TARGETDURATION");
      std::string uri = i + 1 < lines.size () ? lines[i + 1] : "";
      // Parts belong to this segment: same msn in the name.
      std::string msn = uri.substr (uri.find ("/seg") + 4);
      msn = msn.substr (0, msn.find ('.'));
      double sum = 0;
      for (size_t k = 0; k < pending.size (); ++k) {
        const ListedPart &p = pending[k];
        sum += p.duration;
        if (p.uri.find ("/part" + msn + ".") == std::string::npos)
          bad.push_back (p.uri + " listed before " + uri);
        bool last = k + 1 == pending.size ();
        if (!last && !p.independent && p.duration < 0.85 * part_target - 1e-9)
          bad.push_back (p.uri + " under 85% of PART-TARGET");
      }
      if (!pending.empty () && std::abs (sum - d) > 0.0001 * pending.size ())
        bad.push_back ("parts of " + uri + " do not add up to its EXTINF");
      seg_durations.push_back (d);
      seg_listed_parts.push_back (!pending.empty ());
      pending.clear ();
    }
  }
  for (const ListedPart &p : pending)
    open_duration += p.duration;
  // Parts listed for (at least) the last three target durations, no more:
  // a complete segment has parts exactly when it ends within 3 x TD.
  double from_end = open_duration;
  for (size_t k = seg_durations.size (); k-- > 0;) {
    // Printed durations round to 10 us: leave the boundary itself alone.
    bool surely_within = from_end < 3 * target - 0.001;
    bool surely_outside = from_end > 3 * target + 0.001;
    if ((surely_within && !seg_listed_parts[k]) || (surely_outside && seg_listed_parts[k]))
      bad.push_back ("segment " + std::to_string (k)
                     + " parts listed=" + std::to_string (seg_listed_parts[k]) + " but ends "
                     + std::to_string (from_end) + " s before the edge");
    from_end += seg_durations[k];
  }
  bool ended = playlist.find ("#EXT-X-ENDLIST") != std::string::npos;
  if (!ended && playlist.find ("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=") == std::string::npos)
    bad.push_back ("live playlist without EXT-X-PRELOAD-HINT");
  return bad;
}

} // namespace mirror::test
