// Runs file operations given as arguments with plain libc (fopen, fread,
// fwrite, readdir, rename, remove, mkdir, stat) and prints one line per
// operation: "<op> <path>: <result>", the result being what happened or the
// errno's name. The host decides what may happen; this program only reports.
//
//   read P | write P TEXT | append P TEXT | seek P OFFSET | stat P | lstat P |
//   list P | mkdir P | rmdir P | remove P | rename FROM TO | env NAME |
//   sleep MS | wait P (until P exists, at most 20 s) | hold-dir P |
//   read-at NAME (beneath the held directory) | hold-file P |
//   read-held (the held file from its start) | open-many P N
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char* errno_name(int e) {
  switch (e) {
    case EACCES:
      return "EACCES";
    case ENOENT:
      return "ENOENT";
    case ENOTCAPABLE:
      return "ENOTCAPABLE";
    case EPERM:
      return "EPERM";
    case EEXIST:
      return "EEXIST";
    case ENOTDIR:
      return "ENOTDIR";
    case EISDIR:
      return "EISDIR";
    case ENOTEMPTY:
      return "ENOTEMPTY";
    case ELOOP:
      return "ELOOP";
    case EXDEV:
      return "EXDEV";
    case EBADF:
      return "EBADF";
    case EMFILE:
      return "EMFILE";
    case EINVAL:
      return "EINVAL";
    case ENOTSUP:
      return "ENOTSUP";
    case ENOSYS:
      return "ENOSYS";
    default:
      return "other";
  }
}

static void fail(const char* op, const char* path) {
  printf("%s %s: %s\n", op, path, errno_name(errno));
}

static void read_file(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) return fail("read", path);
  char buffer[4096];
  size_t n = fread(buffer, 1, sizeof buffer - 1, f);
  int error = ferror(f);
  fclose(f);
  if (error) return fail("read", path);
  buffer[n] = 0;
  printf("read %s: %s\n", path, buffer);
}

static void write_file(const char* op, const char* mode, const char* path, const char* text) {
  FILE* f = fopen(path, mode);
  if (!f) return fail(op, path);
  size_t n = fwrite(text, 1, strlen(text), f);
  if (fclose(f) != 0 || n != strlen(text)) return fail(op, path);
  printf("%s %s: ok\n", op, path);
}

static void seek_file(const char* path, long offset) {
  FILE* f = fopen(path, "r");
  if (!f) return fail("seek", path);
  if (fseek(f, offset, SEEK_SET) != 0) {
    fclose(f);
    return fail("seek", path);
  }
  char buffer[256];
  size_t n = fread(buffer, 1, sizeof buffer - 1, f);
  buffer[n] = 0;
  long at = ftell(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  printf("seek %s: %s (now at %ld of %ld)\n", path, buffer, at, size);
}

static void stat_path(const char* op, const char* path, int follow) {
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) != 0) return fail(op, path);
  const char* type = S_ISDIR(st.st_mode)   ? "dir"
                     : S_ISREG(st.st_mode) ? "file"
                     : S_ISLNK(st.st_mode) ? "symlink"
                                           : "other";
  if (S_ISREG(st.st_mode)) {
    printf("%s %s: %s of %lld bytes\n", op, path, type, (long long)st.st_size);
  } else {
    printf("%s %s: %s\n", op, path, type);
  }
}

static int compare_names(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

static void list_dir(const char* path) {
  DIR* d = opendir(path);
  if (!d) return fail("list", path);
  char* names[512];
  size_t count = 0;
  struct dirent* e;
  errno = 0;
  while ((e = readdir(d)) != NULL && count < 512) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    names[count++] = strdup(e->d_name);
  }
  int error = errno;
  closedir(d);
  if (error != 0) {
    errno = error;
    return fail("list", path);
  }
  qsort(names, count, sizeof names[0], compare_names);
  printf("list %s:", path);
  for (size_t i = 0; i < count; ++i) {
    printf(" %s", names[i]);
    free(names[i]);
  }
  printf("\n");
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int held_dir = -1;
static int held_file = -1;

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* op = argv[i];
    const char* path = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(op, "read") == 0) {
      read_file(path);
      i += 1;
    } else if (strcmp(op, "write") == 0 && i + 2 < argc) {
      write_file("write", "w", path, argv[i + 2]);
      i += 2;
    } else if (strcmp(op, "append") == 0 && i + 2 < argc) {
      write_file("append", "a", path, argv[i + 2]);
      i += 2;
    } else if (strcmp(op, "seek") == 0 && i + 2 < argc) {
      seek_file(path, atol(argv[i + 2]));
      i += 2;
    } else if (strcmp(op, "stat") == 0) {
      stat_path("stat", path, 1);
      i += 1;
    } else if (strcmp(op, "lstat") == 0) {
      stat_path("lstat", path, 0);
      i += 1;
    } else if (strcmp(op, "list") == 0) {
      list_dir(path);
      i += 1;
    } else if (strcmp(op, "mkdir") == 0) {
      if (mkdir(path, 0755) != 0) {
        fail("mkdir", path);
      } else {
        printf("mkdir %s: ok\n", path);
      }
      i += 1;
    } else if (strcmp(op, "rmdir") == 0) {
      if (rmdir(path) != 0) {
        fail("rmdir", path);
      } else {
        printf("rmdir %s: ok\n", path);
      }
      i += 1;
    } else if (strcmp(op, "remove") == 0) {
      if (remove(path) != 0) {
        fail("remove", path);
      } else {
        printf("remove %s: ok\n", path);
      }
      i += 1;
    } else if (strcmp(op, "rename") == 0 && i + 2 < argc) {
      if (rename(path, argv[i + 2]) != 0) {
        fail("rename", path);
      } else {
        printf("rename %s: ok\n", path);
      }
      i += 2;
    } else if (strcmp(op, "env") == 0) {
      const char* value = getenv(path);
      printf("env %s: %s\n", path, value ? value : "(unset)");
      i += 1;
    } else if (strcmp(op, "sleep") == 0) {
      long ms = atol(path);
      long long start = now_ms();
      struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
      int r = nanosleep(&ts, NULL);
      long long elapsed = now_ms() - start;
      if (r != 0) {
        fail("sleep", path);
      } else {
        printf("sleep %s: %s\n", path, elapsed >= ms ? "ok" : "too short");
      }
      i += 1;
    } else if (strcmp(op, "wait") == 0) {
      long long start = now_ms();
      struct stat st;
      while (stat(path, &st) != 0 && now_ms() - start < 20000) usleep(10000);
      printf("wait %s: %s\n", path, stat(path, &st) == 0 ? "ok" : "timeout");
      i += 1;
    } else if (strcmp(op, "hold-dir") == 0) {
      held_dir = open(path, O_RDONLY | O_DIRECTORY);
      if (held_dir < 0) {
        fail("hold-dir", path);
      } else {
        printf("hold-dir %s: ok\n", path);
      }
      i += 1;
    } else if (strcmp(op, "read-at") == 0) {
      int fd = openat(held_dir, path, O_RDONLY);
      if (fd < 0) {
        fail("read-at", path);
      } else {
        char buffer[256];
        ssize_t n = read(fd, buffer, sizeof buffer - 1);
        close(fd);
        buffer[n > 0 ? n : 0] = 0;
        printf("read-at %s: %s\n", path, buffer);
      }
      i += 1;
    } else if (strcmp(op, "hold-file") == 0) {
      held_file = open(path, O_RDONLY);
      if (held_file < 0) {
        fail("hold-file", path);
      } else {
        printf("hold-file %s: ok\n", path);
      }
      i += 1;
    } else if (strcmp(op, "read-held") == 0) {
      char buffer[256];
      ssize_t n = pread(held_file, buffer, sizeof buffer - 1, 0);
      if (n < 0) {
        fail("read-held", "");
      } else {
        buffer[n] = 0;
        printf("read-held: %s\n", buffer);
      }
    } else if (strcmp(op, "open-many") == 0 && i + 2 < argc) {
      int wanted = atoi(argv[i + 2]);
      int fds[1024];
      int opened = 0;
      while (opened < wanted && opened < 1024) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) break;
        fds[opened++] = fd;
      }
      if (opened < wanted) {
        printf("open-many %s: %d, then %s\n", path, opened, errno_name(errno));
      } else {
        printf("open-many %s: %d\n", path, opened);
      }
      for (int k = 0; k < opened; ++k) close(fds[k]);
      i += 2;
    } else {
      printf("unknown operation %s\n", op);
      return 2;
    }
  }
  fflush(stdout);
  return 0;
}
