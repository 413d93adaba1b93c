// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls_test_feed.h"

#include <sstream>

namespace mirror::test {

Feed::Feed (StreamStore &store, std::string rendition, uint64_t first_msn)
    : store_ (store), rendition_ (std::move (rendition)), msn_ (first_msn)
{}

PartPosition
Feed::part (int64_t duration_ns, bool independent, bool last_in_segment)
{
  PartInput in;
  in.msn = msn_;
  in.part_index = part_;
  in.duration_ns = duration_ns;
  in.independent = independent;
  in.last_in_segment = last_in_segment;
  if (part_ == 0)
    in.wallclock_ns = wallclock_;
  in.bytes = Bytes::copy ("part " + std::to_string (msn_) + "." + std::to_string (part_));
  wallclock_ += duration_ns;
  ++part_;
  auto pos = store_.add_part (rendition_, in);
  return pos.value_or (PartPosition{ UINT64_MAX, UINT32_MAX });
}

PartPosition
Feed::next_segment_part (int64_t duration_ns)
{
  if (part_ > 0) {
    ++msn_;
    part_ = 0;
  }
  return part (duration_ns, true);
}

void
Feed::segment (int parts)
{
  if (part_ > 0) {
    ++msn_;
    part_ = 0;
  }
  for (int i = 0; i < parts; ++i)
    part (clock_part_ns (counter_++), i == 0);
}

void
Feed::segments (int n, int parts)
{
  for (int i = 0; i < n; ++i)
    segment (parts);
}

StreamConfig
default_config ()
{
  StreamConfig config;
  config.numbering_clock_ns = 0; // numbered from 0, as the expected texts are
  return config;
}

RenditionInfo
video_info (const std::string &name)
{
  RenditionInfo i;
  i.name = name;
  i.kind = RenditionKind::kVideo;
  i.codecs = "avc1.64001e";
  i.width = 640;
  i.height = 360;
  i.frame_rate = 30;
  i.bandwidth = 400000;
  return i;
}

RenditionInfo
audio_info (const std::string &name)
{
  RenditionInfo i;
  i.name = name;
  i.kind = RenditionKind::kAudio;
  i.codecs = "mp4a.40.2";
  i.bandwidth = 64000;
  i.language = "en";
  return i;
}

Bytes
fake_init (int n)
{
  return Bytes::copy ("ftyp moov " + std::to_string (n));
}

bool
add_video (StreamStore &store, const std::string &name)
{
  return store.add_rendition (video_info (name)) && store.set_init (name, fake_init ());
}

bool
add_audio (StreamStore &store, const std::string &name)
{
  return store.add_rendition (audio_info (name)) && store.set_init (name, fake_init ());
}

std::vector<std::string>
lines_of (const std::string &text)
{
  std::vector<std::string> out;
  std::istringstream in (text);
  for (std::string line; std::getline (in, line);)
    out.push_back (line);
  return out;
}

bool
has_line (const std::string &text, const std::string &line)
{
  for (const std::string &l : lines_of (text))
    if (l == line)
      return true;
  return false;
}

int
count_prefix (const std::string &text, const std::string &prefix)
{
  int n = 0;
  for (const std::string &l : lines_of (text))
    n += l.rfind (prefix, 0) == 0 ? 1 : 0;
  return n;
}

uint64_t
tag_number (const std::string &text, const std::string &tag)
{
  for (const std::string &l : lines_of (text))
    if (l.rfind (tag, 0) == 0)
      return std::stoull (l.substr (tag.size ()));
  return 0;
}

int
count_line (const std::string &text, const std::string &line)
{
  int n = 0;
  for (const std::string &l : lines_of (text))
    n += l == line ? 1 : 0;
  return n;
}

} // namespace mirror::test
