// SPDX-License-Identifier: LGPL-2.1-or-later
// A minimal JSON writer for the tools' --json output (tests and benchmark
// scripts parse it); no dependency for a few dozen fields.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace mirror::tools {

class JsonWriter {
 public:
  void begin_object () { open ('{'); }
  void end_object () { close ('}'); }
  void begin_array () { open ('['); }
  void end_array () { close (']'); }
  void key (const std::string &k)
  {
    comma ();
    string (k);
    out_ += ':';
    after_key_ = true;
  }
  void value (const std::string &v)
  {
    comma ();
    string (v);
  }
  void value (const char *v) { value (std::string (v)); }
  void value (double v)
  {
    comma ();
    if (!std::isfinite (v)) {
      out_ += "null";
      return;
    }
    char buf[64];
    if (v == std::floor (v) && std::fabs (v) < 1e15)
      snprintf (buf, sizeof buf, "%.0f", v);
    else
      snprintf (buf, sizeof buf, "%.6g", v);
    out_ += buf;
  }
  void value (int v) { value ((double)v); }
  void value (bool v)
  {
    comma ();
    out_ += v ? "true" : "false";
  }
  // {"kind": count, ...}
  void value (const std::map<std::string, uint64_t> &counts)
  {
    begin_object ();
    for (const auto &[k, n] : counts)
      field (k, (double)n);
    end_object ();
  }
  void value (const std::vector<std::string> &texts)
  {
    begin_array ();
    for (const auto &t : texts)
      value (t);
    end_array ();
  }
  template <typename T> void field (const std::string &k, const T &v)
  {
    key (k);
    value (v);
  }
  const std::string &str () const { return out_; }

 private:
  void open (char c)
  {
    comma ();
    out_ += c;
    first_.push_back (true);
  }
  void close (char c)
  {
    out_ += c;
    first_.pop_back ();
  }
  void comma ()
  {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty ()) {
      if (!first_.back ())
        out_ += ',';
      first_.back () = false;
    }
  }
  void string (const std::string &s)
  {
    out_ += '"';
    for (unsigned char c : s) {
      switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf (buf, sizeof buf, "\\u%04x", c);
          out_ += buf;
        } else {
          out_ += (char)c;
        }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

inline std::string
base64 (const std::string &in)
{
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size (); i += 3) {
    unsigned v
        = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += t[v >> 6 & 63];
    out += t[v & 63];
  }
  if (i < in.size ()) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < in.size ())
      v |= (unsigned char)in[i + 1] << 8;
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += i + 1 < in.size () ? t[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

} // namespace mirror::tools
