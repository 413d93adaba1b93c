// SPDX-License-Identifier: LGPL-2.1-or-later
#include "metrics/process_stats.h"

#include <cstdio>
#include <cstring>
#include <string>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace mirror {

namespace {

std::optional<std::string>
read_text (const char *path)
{
  FILE *f = fopen (path, "re");
  if (!f)
    return std::nullopt;
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = fread (buffer, 1, sizeof buffer, f)) > 0)
    text.append (buffer, n);
  fclose (f);
  return text;
}

// The system's boot time (seconds since the epoch), /proc/stat's btime.
double
boot_time ()
{
  auto stat = read_text ("/proc/stat");
  if (!stat)
    return 0;
  size_t at = stat->find ("\nbtime ");
  return at == std::string::npos ? 0 : std::strtod (stat->c_str () + at + 7, nullptr);
}

} // namespace

std::optional<ProcessStats>
read_process_stats ()
{
  ProcessStats s;
  DIR *fds = opendir ("/proc/self/fd");
  if (!fds)
    return std::nullopt;
  while (struct dirent *entry = readdir (fds))
    if (entry->d_name[0] != '.')
      s.open_fds++;
  closedir (fds);
  s.open_fds--; // the one opendir holds

  struct rlimit limit = {};
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0)
    s.max_fds = limit.rlim_cur;

  // /proc/self/stat: the command may hold spaces and parentheses, so the
  // fields are counted from the last ')'.
  auto stat = read_text ("/proc/self/stat");
  if (!stat)
    return std::nullopt;
  size_t close = stat->rfind (')');
  if (close == std::string::npos)
    return std::nullopt;
  const char *p = stat->c_str () + close + 2; // field 3 (state) onwards
  unsigned long long field[53] = {};
  int index = 3;
  for (p = strchr (p, ' '); p && index < 52; p = strchr (p + 1, ' '))
    field[++index] = std::strtoull (p + 1, nullptr, 10);
  const double ticks = (double)sysconf (_SC_CLK_TCK);
  const long page = sysconf (_SC_PAGESIZE);
  s.cpu_seconds = (double)(field[14] + field[15]) / ticks;
  s.threads = field[20];
  s.start_time_unix = boot_time () + (double)field[22] / ticks;
  s.virtual_bytes = field[23];
  s.resident_bytes = field[24] * (unsigned long long)page;
  return s;
}

} // namespace mirror
