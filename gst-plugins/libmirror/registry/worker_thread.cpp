// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/worker_thread.h"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <exception>
#include <mutex>

#include <pthread.h>

namespace mirror {

struct WorkerThread::State {
  GMainContext *context = g_main_context_new ();
  // Dispatched (ready time 0) whenever the queue holds work.
  GSource *wake = nullptr;
  std::atomic<GThread *> self{ nullptr };
  std::atomic<bool> quit{ false };
  std::atomic<bool> exited{ false };

  std::mutex mutex;
  std::deque<std::function<void ()>> queue;
  bool closed = false;

  ~State ()
  {
    g_source_destroy (wake);
    g_source_unref (wake);
    g_main_context_unref (context);
  }
};

namespace {

gboolean
wake_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

GSourceFuncs wake_funcs = { nullptr, nullptr, wake_dispatch, nullptr, nullptr, nullptr };

// No C++ exception may unwind through GLib's dispatch.
void
run_guarded (const std::function<void ()> &fn)
{
  try {
    fn ();
  } catch (const std::exception &e) {
    g_critical ("registry worker: a callback threw: %s", e.what ());
  } catch (...) {
    g_critical ("registry worker: a callback threw a non-standard exception");
  }
}

} // namespace

static gboolean
drain_queue (gpointer data)
{
  auto *state = static_cast<WorkerThread::State *> (data);
  std::deque<std::function<void ()>> batch;
  {
    std::lock_guard<std::mutex> lock (state->mutex);
    if (state->closed)
      return G_SOURCE_CONTINUE;
    batch.swap (state->queue);
  }
  while (!batch.empty ()) {
    std::function<void ()> fn = std::move (batch.front ());
    batch.pop_front ();
    run_guarded (fn);
    // Destroy the captures now: the last reference to the owner may go with
    // them, and then the rest of the batch must not run.
    fn = nullptr;
    std::lock_guard<std::mutex> lock (state->mutex);
    if (state->closed)
      break;
  }
  return G_SOURCE_CONTINUE;
}

static gpointer
worker_main (gpointer data)
{
  auto *owned = static_cast<std::shared_ptr<WorkerThread::State> *> (data);
  std::shared_ptr<WorkerThread::State> state = std::move (*owned);
  delete owned;

  // hiredis writes with write (2): a peer that went away must give EPIPE on
  // this thread, not a process-killing SIGPIPE. Blocking it here changes
  // nothing for the rest of the process.
  sigset_t pipe_only;
  sigemptyset (&pipe_only);
  sigaddset (&pipe_only, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_only, nullptr);

  state->self = g_thread_self ();
  // GIO async calls started here (the resolver) complete on this context.
  g_main_context_push_thread_default (state->context);
  // A flag rather than g_main_loop_quit (): a quit that arrives before the
  // loop started running would be lost.
  while (!state->quit.load ())
    g_main_context_iteration (state->context, TRUE);
  g_main_context_pop_thread_default (state->context);
  state->exited = true;
  return nullptr;
}

WorkerThread::WorkerThread (const char *name) : state_ (std::make_shared<State> ())
{
  state_->wake = g_source_new (&wake_funcs, sizeof (GSource));
  g_source_set_name (state_->wake, "mirror-registry-queue");
  g_source_set_callback (state_->wake, drain_queue, state_.get (), nullptr);
  g_source_attach (state_->wake, state_->context);
  thread_ = g_thread_new (name, worker_main, new std::shared_ptr<State> (state_));
}

WorkerThread::~WorkerThread ()
{
  stop ();
}

GMainContext *
WorkerThread::context () const
{
  return state_->context;
}

bool
WorkerThread::is_current () const
{
  return state_->self.load () == g_thread_self ();
}

void
WorkerThread::post (std::function<void ()> fn)
{
  {
    std::lock_guard<std::mutex> lock (state_->mutex);
    if (!state_->closed) {
      state_->queue.push_back (std::move (fn));
      g_source_set_ready_time (state_->wake, 0);
      return;
    }
  }
  // Closed: fn (and whatever it captured) is destroyed here, outside the lock.
}

void
WorkerThread::close ()
{
  std::deque<std::function<void ()>> dropped;
  std::lock_guard<std::mutex> lock (state_->mutex);
  state_->closed = true;
  dropped.swap (state_->queue);
}

namespace {

struct SyncCall {
  const std::function<void ()> *fn;
  std::mutex mutex;
  std::condition_variable cond;
  bool done = false;
};

gboolean
run_sync_call (gpointer data)
{
  auto *call = static_cast<SyncCall *> (data);
  run_guarded (*call->fn);
  std::lock_guard<std::mutex> lock (call->mutex);
  call->done = true;
  call->cond.notify_all ();
  return G_SOURCE_REMOVE;
}

} // namespace

void
WorkerThread::run_sync (const std::function<void ()> &fn)
{
  if (is_current () || !thread_ || state_->exited.load ()) {
    run_guarded (fn);
    return;
  }
  SyncCall call;
  call.fn = &fn;
  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, run_sync_call, &call, nullptr);
  g_source_attach (source, state_->context);
  g_source_unref (source);
  std::unique_lock<std::mutex> lock (call.mutex);
  call.cond.wait (lock, [&call] { return call.done; });
}

void
WorkerThread::stop ()
{
  close ();
  GThread *thread = thread_;
  if (!thread)
    return;
  thread_ = nullptr;
  state_->quit = true;
  g_main_context_wakeup (state_->context);
  if (is_current ())
    g_thread_unref (thread);
  else
    g_thread_join (thread);
}

} // namespace mirror
