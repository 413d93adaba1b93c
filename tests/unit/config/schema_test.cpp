// SPDX-License-Identifier: LGPL-2.1-or-later
// The key table itself: the file, the environment and the dump all walk it,
// so its invariants are what keeps them in step.
#include "schema.h"

#include <gtest/gtest.h>

#include <set>

namespace schema = mirror::daemon::config_schema;
using mirror::daemon::Config;

TEST (ConfigSchema, EnvironmentNamesAreBuiltFromKeys)
{
  auto name = [] (const char *path) { return schema::env_name (*schema::find_key (path)); };
  EXPECT_EQ (name ("redis.addr"), "MIRROR_REDIS_ADDR");
  EXPECT_EQ (name ("ingestion.srt.port"), "MIRROR_INGESTION_SRT_PORT");
  EXPECT_EQ (name ("storage.local.cache_dir"), "MIRROR_STORAGE_LOCAL_CACHE_DIR");
  EXPECT_EQ (name ("server.shutdown_timeout"), "MIRROR_SERVER_SHUTDOWN_TIMEOUT");

  std::set<std::string> names;
  for (const schema::Key &key : schema::keys ())
    EXPECT_TRUE (names.insert (schema::env_name (key)).second) << key.path;
}

TEST (ConfigSchema, EveryKeyHasItsOwnField)
{
  // Two keys writing one field would let one silently undo the other.
  // Counting keys is a reminder: a field added to config.h needs a key here.
  Config config;
  std::set<const void *> fields;
  for (const schema::Key &key : schema::keys ()) {
    const void *address
        = std::visit ([] (auto *p) -> const void * { return p; }, key.field (config));
    EXPECT_TRUE (fields.insert (address).second) << key.path;
    EXPECT_FALSE (schema::allowed_text (key).empty ()) << key.path;
  }
  EXPECT_EQ (schema::keys ().size (), 89u);
}

TEST (ConfigSchema, SectionsAreContiguous)
{
  // dump_config() opens and closes sections as the table goes; a section
  // that came back later would be written twice.
  std::set<std::string> closed;
  std::string current;
  for (const schema::Key &key : schema::keys ()) {
    std::string path (key.path);
    std::string section = path.substr (0, path.rfind ('.'));
    if (section == current)
      continue;
    // Leaving current: it and its parents not shared with section are done.
    for (std::string s = current; !s.empty ();
         s = s.find ('.') == std::string::npos ? "" : s.substr (0, s.rfind ('.')))
      if (section != s && section.rfind (s + ".", 0) != 0)
        closed.insert (s);
    for (std::string s = section; !s.empty ();
         s = s.find ('.') == std::string::npos ? "" : s.substr (0, s.rfind ('.')))
      EXPECT_FALSE (closed.count (s)) << key.path << " reopens " << s;
    current = section;
  }
}

TEST (ConfigSchema, Sections)
{
  EXPECT_EQ (schema::section_children (""),
             (std::vector<std::string>{ "server", "ingestion", "transcoding", "packaging",
                                        "storage", "redis", "registry", "monitoring" }));
  EXPECT_EQ (schema::section_children ("ingestion"),
             (std::vector<std::string>{ "srt", "rtp", "buffer", "reconnect_window",
                                        "ended_retention", "pipeline_stall_timeout", "thread_nice",
                                        "max_streams", "routes", "pipelines_dir" }));
  EXPECT_TRUE (schema::is_section ("ingestion.srt"));
  EXPECT_FALSE (schema::is_section ("ingestion.srt.port"));
  EXPECT_FALSE (schema::is_section ("ingestion.sr"));
  EXPECT_TRUE (schema::find_key ("packaging.part_duration"));
  EXPECT_FALSE (schema::find_key ("packaging.part_duration_ms"));
}
