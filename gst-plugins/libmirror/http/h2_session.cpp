// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http/h2_session.h"

#include <cstring>
#include <vector>

#include <glib.h>

namespace mirror {

struct H2Session::Stream {
  OriginRequest request;
  size_t head_bytes = 0;
  bool too_large = false;
  bool dispatched = false;
  bool answered = false;
  bool held = false;
  std::function<void ()> cancel;
  // The answer's body and how far DATA frames have taken it.
  std::vector<Bytes> body;
  size_t chunk = 0;
  size_t offset = 0;
  size_t left = 0;
};

namespace {

H2Session *
self_of (void *user_data)
{
  return static_cast<H2Session *> (user_data);
}

std::string
lower (std::string &s)
{
  for (char &c : s)
    c = g_ascii_tolower (c);
  return std::move (s);
}

} // namespace

H2Session::H2Session (OriginHandler &handler, Limits limits, Counters &counters, Output &output)
    : handler_ (handler), limits_ (limits), counters_ (counters), out_ (output)
{
  nghttp2_session_callbacks *cb = nullptr;
  nghttp2_session_callbacks_new (&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback (cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback (cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback (cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback (cb, on_stream_close);
  nghttp2_session_callbacks_set_send_callback (cb, on_send);
  nghttp2_session_callbacks_set_send_data_callback (cb, on_send_data);
  nghttp2_session_callbacks_set_on_frame_send_callback (
      cb, [] (nghttp2_session *, const nghttp2_frame *frame, void *user_data) {
        // nghttp2 answers a peer's protocol errors itself, with a GOAWAY.
        if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR)
          self_of (user_data)->counters_.protocol_errors++;
        return 0;
      });
  nghttp2_option *opt = nullptr;
  nghttp2_option_new (&opt);
  // Requests carry no bodies worth a window; a peer's SETTINGS flood, its
  // reset flood (CVE-2023-44487) and header lists are bounded by nghttp2.
  nghttp2_option_set_max_settings (opt, 32);
  nghttp2_option_set_max_send_header_block_length (opt, 64 * 1024);
  nghttp2_option_set_no_closed_streams (opt, 1);
  if (nghttp2_session_server_new2 (&session_, cb, this, opt) != 0)
    g_error ("nghttp2_session_server_new2: out of memory");
  nghttp2_option_del (opt);
  nghttp2_session_callbacks_del (cb);
  nghttp2_settings_entry settings[] = {
    { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams },
    { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, uint32_t (limits_.max_header_bytes) },
    { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
    // Every answer of a live origin is as urgent as the next: no RFC 7540
    // priority tree to keep (nor closed streams kept for it), RFC 9218's
    // simpler scheduling instead.
    { NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
  };
  nghttp2_submit_settings (session_, NGHTTP2_FLAG_NONE, settings, G_N_ELEMENTS (settings));
}

H2Session::~H2Session ()
{
  *alive_ = false;
  for (auto &[id, s] : streams_)
    if (s->cancel) {
      counters_.held_abandoned++;
      s->cancel ();
    }
  streams_.clear ();
  nghttp2_session_del (session_);
}

bool
H2Session::receive (const uint8_t *data, size_t size)
{
  const ssize_t n = nghttp2_session_mem_recv (session_, data, size);
  if (n < 0) {
    // Bad preface or framing: a GOAWAY (counted when it is sent), then close.
    nghttp2_session_terminate_session (session_, NGHTTP2_PROTOCOL_ERROR);
    return false;
  }
  return true;
}

void
H2Session::pump ()
{
  if (nghttp2_session_send (session_) != 0) {
    counters_.protocol_errors++;
    nghttp2_session_terminate_session (session_, NGHTTP2_INTERNAL_ERROR);
  }
}

bool
H2Session::want_read () const
{
  return nghttp2_session_want_read (session_) != 0;
}

bool
H2Session::want_write () const
{
  return nghttp2_session_want_write (session_) != 0;
}

void
H2Session::go_away ()
{
  nghttp2_submit_goaway (session_, NGHTTP2_FLAG_NONE,
                         nghttp2_session_get_last_proc_stream_id (session_), NGHTTP2_NO_ERROR,
                         nullptr, 0);
}

size_t
H2Session::held () const
{
  size_t n = 0;
  for (const auto &[id, s] : streams_)
    n += s->held ? 1 : 0;
  return n;
}

int
H2Session::on_begin_headers (nghttp2_session *, const nghttp2_frame *frame, void *user_data)
{
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  self_of (user_data)->streams_[frame->hd.stream_id] = std::make_unique<Stream> ();
  return 0;
}

int
H2Session::on_header (nghttp2_session *, const nghttp2_frame *frame, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen, uint8_t,
                      void *user_data)
{
  H2Session *self = self_of (user_data);
  auto it = self->streams_.find (frame->hd.stream_id);
  if (it == self->streams_.end () || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0; // trailers: nothing we read
  Stream &s = *it->second;
  s.head_bytes += namelen + valuelen + 32; // RFC 9113's accounting
  if (s.head_bytes > self->limits_.max_header_bytes) {
    s.too_large = true;
    return 0;
  }
  std::string_view n (reinterpret_cast<const char *> (name), namelen);
  std::string_view v (reinterpret_cast<const char *> (value), valuelen);
  if (n == ":method") {
    s.request.method = v;
  } else if (n == ":path") {
    const size_t q = v.find ('?');
    s.request.path = v.substr (0, q);
    if (q != std::string_view::npos)
      s.request.query = v.substr (q + 1);
  } else if (n == "range") {
    s.request.range = v;
  }
  return 0;
}

int
H2Session::on_data_chunk (nghttp2_session *session, uint8_t, int32_t id, const uint8_t *,
                          size_t len, void *user_data)
{
  // Viewers send GETs; a body is read and dropped, its window given back.
  H2Session *self = self_of (user_data);
  auto it = self->streams_.find (id);
  if (it != self->streams_.end ()) {
    it->second->head_bytes += len;
    if (it->second->head_bytes > 64 * 1024)
      nghttp2_submit_rst_stream (session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
  }
  return 0;
}

int
H2Session::on_frame_recv (nghttp2_session *, const nghttp2_frame *frame, void *user_data)
{
  H2Session *self = self_of (user_data);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
    return 0;
  if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  auto it = self->streams_.find (frame->hd.stream_id);
  if (it == self->streams_.end () || it->second->dispatched)
    return 0;
  self->dispatch (frame->hd.stream_id, *it->second);
  return 0;
}

void
H2Session::dispatch (int32_t id, Stream &s)
{
  s.dispatched = true;
  counters_.requests++;
  if (s.too_large) {
    counters_.too_large++;
    submit (id, s,
            OriginResponse::text (431, "the request's header list is larger than "
                                           + std::to_string (limits_.max_header_bytes) + " bytes"));
    return;
  }
  if (s.request.method.empty () || s.request.path.empty () || s.request.path[0] != '/') {
    submit (id, s, OriginResponse::text (400, "a request needs :method and an absolute :path"));
    return;
  }
  s.request.protocol = OriginProtocol::kHttp2;
  s.request.client = reinterpret_cast<uintptr_t> (this);
  auto alive = alive_;
  std::function<void ()> cancel = handler_.handle (s.request, [this, alive, id] (OriginResponse r) {
    if (!*alive)
      return;
    auto it = streams_.find (id);
    if (it == streams_.end () || it->second->answered)
      return;
    Stream &st = *it->second;
    st.cancel = nullptr;
    st.held = false;
    submit (id, st, std::move (r));
    out_.wake ();
  });
  if (s.answered || !cancel)
    return;
  s.cancel = std::move (cancel);
  s.held = true;
  if (held () > limits_.max_held) {
    counters_.held_refused++;
    auto c = std::move (s.cancel);
    s.cancel = nullptr;
    s.held = false;
    c ();
    submit (id, s,
            OriginResponse::text (503, "more than " + std::to_string (limits_.max_held)
                                           + " requests held on this connection"));
  }
}

void
H2Session::submit (int32_t id, Stream &s, OriginResponse r)
{
  s.answered = true;
  // The fields, then their nghttp2 view: nghttp2 copies them on submit, all
  // but the handler's common fields, which outlive the answer (common_ keeps
  // them) and go out as they are.
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve (4 + r.headers.size ());
  fields.emplace_back (":status", std::to_string (r.status));
  if (!r.content_type.empty ())
    fields.emplace_back ("content-type", std::move (r.content_type));
  if (!r.cache_control.empty ())
    fields.emplace_back ("cache-control", std::move (r.cache_control));
  for (auto &[name, value] : r.headers) {
    std::string n = lower (name);
    // Connection-specific fields are forbidden in HTTP/2 (RFC 9113 8.2.2).
    if (n == "connection" || n == "keep-alive" || n == "transfer-encoding" || n == "upgrade")
      continue;
    fields.emplace_back (std::move (n), std::move (value));
  }
  const bool bodyless = s.request.method == "HEAD" || r.status == 204 || r.status == 304;
  const bool has_length = r.status != 204 && r.status != 304;
  if (has_length)
    fields.emplace_back ("content-length", std::to_string (r.body_size ()));
  std::vector<nghttp2_nv> nva;
  nva.reserve (fields.size () + (r.common ? r.common->size () : 0));
  for (const auto &[n, v] : fields)
    nva.push_back (
        { (uint8_t *)n.data (), (uint8_t *)v.data (), n.size (), v.size (), NGHTTP2_NV_FLAG_NONE });
  // A length changes with every part: indexing it would only churn HPACK's
  // table (RFC 7541 6.2.2).
  if (has_length)
    nva.back ().flags = NGHTTP2_NV_FLAG_NO_INDEX;
  if (r.common) {
    common_ = r.common;
    for (const CommonField &f : *common_)
      nva.push_back ({ (uint8_t *)f.lower.data (), (uint8_t *)f.value.data (), f.lower.size (),
                       f.value.size (),
                       NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE });
  }
  int rv;
  if (bodyless || r.body_size () == 0) {
    rv = nghttp2_submit_response (session_, id, nva.data (), nva.size (), nullptr);
  } else {
    s.body = std::move (r.body);
    s.left = 0;
    for (const Bytes &b : s.body)
      s.left += b.size ();
    nghttp2_data_provider provider;
    provider.source.ptr = &s;
    provider.read_callback = on_read_data;
    rv = nghttp2_submit_response (session_, id, nva.data (), nva.size (), &provider);
  }
  if (rv != 0)
    nghttp2_submit_rst_stream (session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
}

ssize_t
H2Session::on_read_data (nghttp2_session *, int32_t, uint8_t *, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *)
{
  auto *s = static_cast<Stream *> (source->ptr);
  const size_t n = std::min (length, s->left);
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == s->left)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return ssize_t (n);
}

int
H2Session::on_send_data (nghttp2_session *, nghttp2_frame *frame, const uint8_t *framehd,
                         size_t length, nghttp2_data_source *source, void *user_data)
{
  H2Session *self = self_of (user_data);
  auto *s = static_cast<Stream *> (source->ptr);
  if (self->out_.queued () > kHighWater)
    return NGHTTP2_ERR_WOULDBLOCK;
  self->out_.emit_copy (framehd, 9);
  if (frame->data.padlen > 0) {
    const uint8_t pad = uint8_t (frame->data.padlen - 1);
    self->out_.emit_copy (&pad, 1);
  }
  size_t want = length;
  while (want > 0 && s->chunk < s->body.size ()) {
    const Bytes &b = s->body[s->chunk];
    const size_t take = std::min (want, b.size () - s->offset);
    // Small pieces (playlists) are copied beside the frame header; parts
    // go out from the store's buffer.
    if (take > 0 && take < kCopyBelow)
      self->out_.emit_copy (b.data () + s->offset, take);
    else if (take > 0)
      self->out_.emit (b.slice (s->offset, take));
    s->offset += take;
    want -= take;
    if (s->offset == b.size ()) {
      s->chunk++;
      s->offset = 0;
    }
  }
  s->left -= length;
  if (frame->data.padlen > 1) {
    const std::vector<uint8_t> zeros (frame->data.padlen - 1, 0);
    self->out_.emit_copy (zeros.data (), zeros.size ());
  }
  return 0;
}

ssize_t
H2Session::on_send (nghttp2_session *, const uint8_t *data, size_t length, int, void *user_data)
{
  H2Session *self = self_of (user_data);
  if (self->out_.queued () > kHighWater)
    return NGHTTP2_ERR_WOULDBLOCK;
  self->out_.emit_copy (data, length);
  return ssize_t (length);
}

int
H2Session::on_stream_close (nghttp2_session *, int32_t id, uint32_t, void *user_data)
{
  H2Session *self = self_of (user_data);
  auto it = self->streams_.find (id);
  if (it == self->streams_.end ())
    return 0;
  if (it->second->cancel) {
    self->counters_.held_abandoned++;
    auto c = std::move (it->second->cancel);
    self->streams_.erase (it);
    c ();
    return 0;
  }
  self->streams_.erase (it);
  return 0;
}

} // namespace mirror
