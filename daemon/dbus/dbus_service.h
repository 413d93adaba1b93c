// SPDX-License-Identifier: LGPL-2.1-or-later
// The stream operations over D-Bus (GDBus): well-known name (default
// io.mirror.Mirror1), object /io/mirror/Mirror1, interface io.mirror.Mirror1.Streams
// (introspection: daemon/dbus/io.mirror.Mirror1.Streams.xml).
// Lives on mirrord's main context like the StreamManager it drives.
#pragma once

#include <memory>
#include <string>

namespace mirror::daemon {

class StreamManager;

class DbusService {
 public:
  // bus: "session", "system" or "off".
  DbusService (const std::string &bus, const std::string &name, StreamManager &streams);
  ~DbusService ();
  DbusService (const DbusService &) = delete;
  DbusService &operator= (const DbusService &) = delete;

  // Connects and owns the name asynchronously. No bus (or "off") is a log
  // line, never a failure.
  void start ();
  // Releases the name and unexports the object.
  void stop ();
  // True once the name is owned.
  bool active () const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mirror::daemon
