// SPDX-License-Identifier: LGPL-2.1-or-later
// The thread a registry lives on: a private GMainContext iterated by one
// thread, so that I/O, timers and every callback to users happen there and
// callers on streaming threads never wait for the network.
#pragma once

#include <functional>
#include <memory>

#include <glib.h>

namespace mirror {

class WorkerThread {
 public:
  explicit WorkerThread (const char *name);
  // Stops the thread (see stop ()).
  ~WorkerThread ();
  WorkerThread (const WorkerThread &) = delete;
  WorkerThread &operator= (const WorkerThread &) = delete;

  // Where sources that must run on this thread are attached.
  GMainContext *context () const;
  bool is_current () const;

  // Queues fn; it runs on the worker thread, in FIFO order with every other
  // posted function, always after post () returned (also when called from the
  // worker thread). Dropped without running once close () was called.
  void post (std::function<void ()> fn);

  // Stops taking and running posted functions: what is queued but not started
  // is dropped. Idempotent. Owners call it first when they go away, so that no
  // queued work runs against a half-destroyed owner.
  void close ();

  // Runs fn on the worker thread and waits for it; inline when called from the
  // worker thread or once the thread has stopped. Works after close (): it is
  // how owners tear down the sources they attached.
  void run_sync (const std::function<void ()> &fn);

  // Closes, then ends the thread: joins it, or detaches it when called from the
  // worker thread itself (a callback dropped the last reference to the owner);
  // the thread then exits as soon as the current callback returns.
  void stop ();

  struct State; // shared with the thread, which may outlive this object

 private:
  std::shared_ptr<State> state_;
  GThread *thread_ = nullptr;
};

} // namespace mirror
