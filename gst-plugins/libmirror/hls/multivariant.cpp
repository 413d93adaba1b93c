// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/multivariant.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "hls/playlist.h"
#include "hls/url_layout.h"

namespace mirror {

std::string
render_multivariant_playlist (const std::vector<RenditionInfo> &renditions,
                              std::string_view uri_query)
{
  auto uri = [uri_query] (const std::string &name) {
    std::string out = hls_media_playlist_uri (name);
    if (!uri_query.empty ())
      out.append ("?").append (uri_query);
    return out;
  };
  std::vector<const RenditionInfo *> video, audio;
  for (const RenditionInfo &r : renditions)
    (r.kind == RenditionKind::kVideo ? video : audio).push_back (&r);

  std::ostringstream out;
  out << "#EXTM3U\n#EXT-X-VERSION:" << kHlsPlaylistVersion << "\n#EXT-X-INDEPENDENT-SEGMENTS\n";

  // A variant's BANDWIDTH must cover the audio played with it: the largest.
  unsigned audio_bandwidth = 0;
  std::string audio_codecs;
  for (size_t i = 0; i < audio.size (); ++i) {
    const RenditionInfo &a = *audio[i];
    audio_bandwidth = std::max (audio_bandwidth, a.bandwidth);
    if (audio_codecs.find (a.codecs) == std::string::npos)
      audio_codecs += (audio_codecs.empty () ? "" : ",") + a.codecs;
    if (video.empty ())
      continue;
    out << "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"" << kHlsAudioGroup << "\",NAME=\"" << a.name
        << "\"";
    if (!a.language.empty ())
      out << ",LANGUAGE=\"" << a.language << "\"";
    out << ",DEFAULT=" << (i == 0 ? "YES" : "NO") << ",AUTOSELECT=YES,URI=\"" << uri (a.name)
        << "\"\n";
  }

  for (const RenditionInfo *v : video) {
    std::string codecs = v->codecs;
    if (!audio_codecs.empty ())
      codecs += "," + audio_codecs;
    char rate[32];
    std::snprintf (rate, sizeof rate, "%.3f", v->frame_rate);
    out << "#EXT-X-STREAM-INF:BANDWIDTH=" << (v->bandwidth + audio_bandwidth) << ",CODECS=\""
        << codecs << "\"";
    if (v->width && v->height)
      out << ",RESOLUTION=" << v->width << "x" << v->height;
    if (v->frame_rate > 0)
      out << ",FRAME-RATE=" << rate;
    if (!audio.empty ())
      out << ",AUDIO=\"" << kHlsAudioGroup << "\"";
    out << "\n" << uri (v->name) << "\n";
  }
  if (video.empty ()) {
    for (const RenditionInfo *a : audio)
      out << "#EXT-X-STREAM-INF:BANDWIDTH=" << a->bandwidth << ",CODECS=\"" << a->codecs << "\"\n"
          << uri (a->name) << "\n";
  }
  return out.str ();
}

} // namespace mirror
