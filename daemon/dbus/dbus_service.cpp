// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord's D-Bus API: io.mirror.Mirror1.Streams on /io/mirror/Mirror1.
//
// The service opens its own connection to the bus instead of using
// g_bus_own_name's shared one: the shared connection raises SIGTERM when the
// bus goes away (exit-on-close), and a restarted dbus-daemon must not stop
// mirrord's streams. Everything here runs on mirrord's main context; the
// connection delivers method calls there because it is registered from it.
#include "dbus/dbus_service.h"

#include <exception>
#include <vector>

#include <gio/gio.h>

#include "log.h"
#include "streams/stream_manager.h"
#include "version.h"

namespace mirror::daemon {

namespace {

constexpr const char *kObjectPath = "/io/mirror/Mirror1";
constexpr const char *kInterface = "io.mirror.Mirror1.Streams";
constexpr const char *kIntrospectionResource = "/io/mirror/dbus/io.mirror.Mirror1.Streams.xml";

const char *
dbus_error_name (ApiErrc code)
{
  switch (code) {
  case ApiErrc::kNotFound:
    return "io.mirror.Mirror1.Error.NotFound";
  case ApiErrc::kAlreadyExists:
    return "io.mirror.Mirror1.Error.AlreadyExists";
  case ApiErrc::kCapacityFull:
    return "io.mirror.Mirror1.Error.CapacityFull";
  case ApiErrc::kInvalidInput:
    return "io.mirror.Mirror1.Error.InvalidInput";
  case ApiErrc::kUnauthorized:
    return "io.mirror.Mirror1.Error.Unauthorized";
  case ApiErrc::kServiceUnavailable:
    return "io.mirror.Mirror1.Error.ServiceUnavailable";
  case ApiErrc::kConflict:
    return "io.mirror.Mirror1.Error.Conflict";
  case ApiErrc::kOk:
  case ApiErrc::kInternal:
    break;
  }
  return "io.mirror.Mirror1.Error.Internal";
}

// D-Bus strings must be UTF-8; pipeline error texts and source URIs come from
// the outside and are not always.
GVariant *
utf8_string (const std::string &text)
{
  if (g_utf8_validate (text.data (), (gssize)text.size (), nullptr))
    return g_variant_new_string (text.c_str ());
  return g_variant_new_take_string (g_utf8_make_valid (text.data (), (gssize)text.size ()));
}

// Consumes the invocation.
void
return_api_error (GDBusMethodInvocation *invocation, const ApiError &error)
{
  char *message = g_utf8_make_valid (error.message.c_str (), -1);
  g_dbus_method_invocation_return_dbus_error (invocation, dbus_error_name (error.code), message);
  g_free (message);
}

// The a{sv} described in io.mirror.Mirror1.Streams.xml (floating).
GVariant *
stream_dict (const StreamView &view)
{
  const StreamEntry &e = view.entry;
  const StreamStats &s = e.stats;
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  auto add
      = [&b] (const char *key, GVariant *value) { g_variant_builder_add (&b, "{sv}", key, value); };
  add ("id", utf8_string (e.id));
  add ("node_id", utf8_string (e.node_id));
  add ("state", g_variant_new_string (to_string (e.state)));
  add ("message", utf8_string (e.message));
  add ("source", utf8_string (mask_secrets (e.source)));
  add ("local", g_variant_new_boolean (view.local));
  add ("pipeline", utf8_string (view.local ? view.pipeline : std::string ()));
  add ("pipeline_state", utf8_string (view.local ? view.pipeline_state : std::string ()));
  add ("uptime_ms", g_variant_new_int64 (view.local ? view.uptime_ms : 0));
  add ("created_unix_ms", g_variant_new_int64 (e.created_unix_ms));
  add ("updated_unix_ms", g_variant_new_int64 (e.updated_unix_ms));
  add ("bytes", g_variant_new_uint64 (s.bytes));
  add ("packets", g_variant_new_uint64 (s.packets));
  add ("packets_lost", g_variant_new_uint64 (s.packets_lost));
  add ("packets_retransmitted", g_variant_new_uint64 (s.packets_retransmitted));
  add ("bitrate_bps", g_variant_new_double (s.bitrate_bps));
  add ("codec", utf8_string (s.codec));
  add ("width", g_variant_new_int32 (s.width));
  add ("height", g_variant_new_int32 (s.height));
  add ("frame_rate", g_variant_new_double (s.frame_rate));
  return g_variant_builder_end (&b);
}

// The replies below own nothing but the invocation, so a StreamManager
// callback that fires after the service stopped is still safe.

void
reply_list (GDBusMethodInvocation *invocation, const ApiError &error,
            const std::vector<StreamView> &views)
{
  if (!error.ok ()) {
    return_api_error (invocation, error);
    return;
  }
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (const auto &view : views)
    g_variant_builder_add_value (&b, stream_dict (view));
  GVariant *streams = g_variant_builder_end (&b);
  g_dbus_method_invocation_return_value (invocation, g_variant_new_tuple (&streams, 1));
}

void
reply_stream (GDBusMethodInvocation *invocation, const ApiError &error, const StreamView &view)
{
  if (!error.ok ()) {
    return_api_error (invocation, error);
    return;
  }
  GVariant *stream = stream_dict (view);
  g_dbus_method_invocation_return_value (invocation, g_variant_new_tuple (&stream, 1));
}

void
reply_done (GDBusMethodInvocation *invocation, const ApiError &error)
{
  if (!error.ok ()) {
    return_api_error (invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value (invocation, nullptr);
}

} // namespace

struct DbusService::Impl {
  // An attempt to connect outlives the service when stop() comes first; its
  // callback then only cleans up.
  struct ConnectAttempt {
    Impl *impl;
    GCancellable *cancellable;
  };

  Impl (const std::string &bus, const std::string &name, StreamManager &streams)
      : bus (bus), name (name), streams (streams)
  {}

  const std::string bus;  // "session", "system" or "off"
  const std::string name; // well-known name
  StreamManager &streams;

  GDBusNodeInfo *introspection = nullptr;
  ConnectAttempt *connecting = nullptr;
  GDBusConnection *connection = nullptr;
  guint registration = 0;
  guint owner = 0;
  unsigned listener = 0;
  bool owned = false;

  bool load_introspection ();
  void connect (GBusType type);
  void connected (GDBusConnection *conn);
  void emit (const char *signal, GVariant *args);
  void method_call (const char *method, GVariant *parameters, GDBusMethodInvocation *invocation);

  static void on_connected (GObject *source, GAsyncResult *result, gpointer data);
  static void on_method_call (GDBusConnection *, const gchar *sender, const gchar *path,
                              const gchar *interface, const gchar *method, GVariant *parameters,
                              GDBusMethodInvocation *invocation, gpointer data);
  static GVariant *on_get_property (GDBusConnection *, const gchar *sender, const gchar *path,
                                    const gchar *interface, const gchar *property, GError **error,
                                    gpointer data);
  static void on_name_acquired (GDBusConnection *, const gchar *name, gpointer data);
  static void on_name_lost (GDBusConnection *conn, const gchar *name, gpointer data);
};

bool
DbusService::Impl::load_introspection ()
{
  if (introspection)
    return true;
  GError *error = nullptr;
  GBytes *xml
      = g_resources_lookup_data (kIntrospectionResource, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  if (xml) {
    introspection = g_dbus_node_info_new_for_xml (
        static_cast<const char *> (g_bytes_get_data (xml, nullptr)), &error);
    g_bytes_unref (xml);
  }
  if (!introspection) {
    log_warn ("D-Bus: cannot load the interface description %s: %s; D-Bus API off",
              kIntrospectionResource, error->message);
    g_error_free (error);
    return false;
  }
  if (!g_dbus_node_info_lookup_interface (introspection, kInterface)) {
    log_warn ("D-Bus: %s does not describe %s; D-Bus API off", kIntrospectionResource, kInterface);
    g_dbus_node_info_unref (introspection);
    introspection = nullptr;
    return false;
  }
  return true;
}

void
DbusService::Impl::connect (GBusType type)
{
  GError *error = nullptr;
  // Reads DBUS_SESSION_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS (or the system
  // bus's default socket); no I/O.
  char *address = g_dbus_address_get_for_bus_sync (type, nullptr, &error);
  if (!address) {
    log_warn ("D-Bus: no address for the %s bus: %s; D-Bus API off", bus.c_str (), error->message);
    g_error_free (error);
    return;
  }
  connecting = new ConnectAttempt{ this, g_cancellable_new () };
  g_dbus_connection_new_for_address (
      address,
      static_cast<GDBusConnectionFlags> (G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                         | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
      nullptr, connecting->cancellable, on_connected, connecting);
  g_free (address);
}

void
DbusService::Impl::on_connected (GObject *, GAsyncResult *result, gpointer data)
{
  auto *attempt = static_cast<ConnectAttempt *> (data);
  GError *error = nullptr;
  GDBusConnection *conn = g_dbus_connection_new_for_address_finish (result, &error);
  Impl *impl = attempt->impl;
  g_object_unref (attempt->cancellable);
  delete attempt;
  if (!impl) {
    // stop() came first.
    if (conn) {
      g_dbus_connection_close (conn, nullptr, nullptr, nullptr);
      g_object_unref (conn);
    }
    g_clear_error (&error);
    return;
  }
  impl->connecting = nullptr;
  if (!conn) {
    log_warn ("D-Bus: cannot connect to the %s bus: %s; D-Bus API off, mirrord keeps running",
              impl->bus.c_str (), error->message);
    g_error_free (error);
    return;
  }
  impl->connected (conn);
}

void
DbusService::Impl::connected (GDBusConnection *conn)
{
  connection = conn; // owns the reference
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  static const GDBusInterfaceVTable vtable = { on_method_call, on_get_property, nullptr, {} };
  GError *error = nullptr;
  registration = g_dbus_connection_register_object (
      connection, kObjectPath, g_dbus_node_info_lookup_interface (introspection, kInterface),
      &vtable, this, nullptr, &error);
  if (!registration) {
    log_warn ("D-Bus: cannot export %s on the %s bus: %s; D-Bus API off", kObjectPath, bus.c_str (),
              error->message);
    g_error_free (error);
    return;
  }

  StreamManager::Listener l;
  l.added = [this] (const StreamView &view) {
    emit ("StreamAdded", g_variant_new ("(@s)", utf8_string (view.entry.id)));
  };
  l.removed = [this] (const std::string &id) {
    emit ("StreamRemoved", g_variant_new ("(@s)", utf8_string (id)));
  };
  l.state_changed = [this] (const StreamView &view) {
    emit ("StreamStatusChanged",
          g_variant_new ("(@ss@s)", utf8_string (view.entry.id), to_string (view.entry.state),
                         utf8_string (view.entry.message)));
  };
  listener = streams.add_listener (std::move (l));

  owner = g_bus_own_name_on_connection (connection, name.c_str (), G_BUS_NAME_OWNER_FLAGS_NONE,
                                        on_name_acquired, on_name_lost, this, nullptr);
}

void
DbusService::Impl::emit (const char *signal, GVariant *args)
{
  g_variant_ref_sink (args);
  if (connection && registration && !g_dbus_connection_is_closed (connection)) {
    GError *error = nullptr;
    if (!g_dbus_connection_emit_signal (connection, nullptr, kObjectPath, kInterface, signal, args,
                                        &error)) {
      log_debug ("D-Bus: cannot emit %s: %s", signal, error->message);
      g_error_free (error);
    }
  }
  g_variant_unref (args);
}

void
DbusService::Impl::method_call (const char *method, GVariant *parameters,
                                GDBusMethodInvocation *invocation)
{
  // GDBus has checked the signature against the introspection data.
  if (g_str_equal (method, "ListStreams")) {
    streams.list ([invocation] (const ApiError &error, const std::vector<StreamView> &views) {
      reply_list (invocation, error, views);
    });
    return;
  }

  const char *id = nullptr;
  g_variant_get (parameters, "(&s)", &id);
  if (g_str_equal (method, "GetStream")) {
    streams.get (id, [invocation] (const ApiError &error, const StreamView &view) {
      reply_stream (invocation, error, view);
    });
  } else if (g_str_equal (method, "PauseStream")) {
    reply_done (invocation, streams.pause (id));
  } else if (g_str_equal (method, "ResumeStream")) {
    reply_done (invocation, streams.resume (id));
  } else if (g_str_equal (method, "StopStream")) {
    streams.stop (id, [invocation] (const ApiError &error) { reply_done (invocation, error); });
  } else {
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "%s has no method %s", kInterface, method);
  }
}

void
DbusService::Impl::on_method_call (GDBusConnection *, const gchar *, const gchar *, const gchar *,
                                   const gchar *method, GVariant *parameters,
                                   GDBusMethodInvocation *invocation, gpointer data)
{
  try {
    static_cast<Impl *> (data)->method_call (method, parameters, invocation);
  } catch (const std::exception &e) {
    // Only allocation can throw here, before the invocation was handed on.
    log_warn ("D-Bus: %s failed: %s", method, e.what ());
    return_api_error (invocation, { ApiErrc::kInternal, std::string (method) + ": " + e.what () });
  }
}

GVariant *
DbusService::Impl::on_get_property (GDBusConnection *, const gchar *, const gchar *, const gchar *,
                                    const gchar *property, GError **error, gpointer)
{
  if (g_str_equal (property, "Version"))
    return g_variant_new_string (mirror::version ());
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "%s has no property %s",
               kInterface, property);
  return nullptr;
}

void
DbusService::Impl::on_name_acquired (GDBusConnection *, const gchar *name, gpointer data)
{
  auto *impl = static_cast<Impl *> (data);
  impl->owned = true;
  log_info ("D-Bus: %s on the %s bus (object %s, interface %s)", name, impl->bus.c_str (),
            kObjectPath, kInterface);
}

void
DbusService::Impl::on_name_lost (GDBusConnection *conn, const gchar *name, gpointer data)
{
  auto *impl = static_cast<Impl *> (data);
  impl->owned = false;
  if (!conn || g_dbus_connection_is_closed (conn)) {
    log_warn ("D-Bus: connection to the %s bus closed; D-Bus API off, mirrord keeps running",
              impl->bus.c_str ());
  } else {
    // Either another process holds the name (GDBus keeps us queued and calls
    // on_name_acquired once it is free) or the bus policy denies it.
    log_warn ("D-Bus: cannot own %s on the %s bus (another process holds it, or the bus "
              "policy denies it: see io.mirror.Mirror1.conf); D-Bus API unavailable, mirrord "
              "keeps running",
              name, impl->bus.c_str ());
  }
}

DbusService::DbusService (const std::string &bus, const std::string &name, StreamManager &streams)
    : impl_ (std::make_unique<Impl> (bus, name, streams))
{}

DbusService::~DbusService ()
{
  stop ();
  if (impl_->introspection)
    g_dbus_node_info_unref (impl_->introspection);
}

void
DbusService::start ()
{
  Impl &d = *impl_;
  if (d.connecting || d.connection)
    return;
  GBusType type;
  if (d.bus == "off") {
    log_info ("D-Bus: off (monitoring.dbus: off)");
    return;
  } else if (d.bus == "session") {
    // Never let GIO autolaunch a session bus for a daemon.
    const char *address = g_getenv ("DBUS_SESSION_BUS_ADDRESS");
    if (!address || !*address) {
      log_info ("D-Bus: no session bus (DBUS_SESSION_BUS_ADDRESS unset); D-Bus API off");
      return;
    }
    type = G_BUS_TYPE_SESSION;
  } else if (d.bus == "system") {
    type = G_BUS_TYPE_SYSTEM;
  } else {
    log_warn ("D-Bus: monitoring.dbus \"%s\" is not a bus (allowed: session, system, off); "
              "D-Bus API off",
              d.bus.c_str ());
    return;
  }
  if (!d.load_introspection ())
    return;
  d.connect (type);
}

void
DbusService::stop ()
{
  Impl &d = *impl_;
  if (d.connecting) {
    d.connecting->impl = nullptr;
    g_cancellable_cancel (d.connecting->cancellable);
    d.connecting = nullptr;
  }
  if (d.listener) {
    d.streams.remove_listener (d.listener);
    d.listener = 0;
  }
  if (d.owner) {
    g_bus_unown_name (d.owner);
    d.owner = 0;
  }
  if (d.registration) {
    g_dbus_connection_unregister_object (d.connection, d.registration);
    d.registration = 0;
  }
  if (d.connection) {
    // Queued after the ReleaseName above, so the bus sees both.
    g_dbus_connection_close (d.connection, nullptr, nullptr, nullptr);
    g_object_unref (d.connection);
    d.connection = nullptr;
  }
  if (d.owned)
    log_info ("D-Bus: released %s", d.name.c_str ());
  d.owned = false;
}

bool
DbusService::active () const
{
  return impl_->owned;
}

} // namespace mirror::daemon
