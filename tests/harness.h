/* A minimal test harness shared by libhub's C tests.
 *
 *   TEST(name) { ... ASSERT(expr); ASSERT_EQ(a, b); ... }
 *   int main(int argc, char **argv) { return RUN_TESTS(argc, argv); }
 *
 * Tests register themselves; `prog NAME` runs one, `prog` runs all. Each
 * result is printed as "ok - name" or "not ok - name", and a last line
 * "N passed, N failed". A failed ASSERT prints the file, line and
 * expression and fails the test (the process exits non-zero). */
#ifndef HUB_TEST_HARNESS_H
#define HUB_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*harness_fn)(void);

struct harness_test {
  const char *name;
  harness_fn fn;
};

#define HARNESS_MAX 256
static struct harness_test harness_tests[HARNESS_MAX];
static int harness_ntests;
static int harness_failed_now;

static inline void harness_register(const char *name, harness_fn fn) {
  if (harness_ntests < HARNESS_MAX) {
    harness_tests[harness_ntests].name = name;
    harness_tests[harness_ntests].fn = fn;
    harness_ntests++;
  }
}

#define TEST(name)                                                           \
  static void test_##name(void);                                             \
  __attribute__((constructor)) static void harness_reg_##name(void) {        \
    harness_register(#name, test_##name);                                    \
  }                                                                          \
  static void test_##name(void)

#define HARNESS_FAIL(...)                                                    \
  do {                                                                       \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                          \
    fprintf(stderr, __VA_ARGS__);                                            \
    fprintf(stderr, "\n");                                                   \
    harness_failed_now = 1;                                                  \
    return;                                                                  \
  } while (0)

#define ASSERT(expr)                                                         \
  do {                                                                       \
    if (!(expr))                                                             \
      HARNESS_FAIL("assertion failed: %s", #expr);                           \
  } while (0)

#define ASSERT_EQ(a, b)                                                      \
  do {                                                                       \
    long long harness_a_ = (long long)(a), harness_b_ = (long long)(b);      \
    if (harness_a_ != harness_b_)                                            \
      HARNESS_FAIL("%s == %s failed: %lld != %lld", #a, #b, harness_a_,      \
                   harness_b_);                                              \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                  \
  do {                                                                       \
    const char *harness_a_ = (a), *harness_b_ = (b);                         \
    if (strcmp(harness_a_, harness_b_) != 0)                                 \
      HARNESS_FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b, harness_a_,  \
                   harness_b_);                                              \
  } while (0)

static inline int harness_run(int argc, char **argv) {
  int i, passed = 0, failed = 0, ran = 0;

  setvbuf(stdout, NULL, _IONBF, 0);
  for (i = 0; i < harness_ntests; i++) {
    if (argc > 1 && strcmp(argv[1], harness_tests[i].name) != 0)
      continue;
    ran++;
    harness_failed_now = 0;
    harness_tests[i].fn();
    if (harness_failed_now) {
      failed++;
      printf("not ok - %s\n", harness_tests[i].name);
    } else {
      passed++;
      printf("ok - %s\n", harness_tests[i].name);
    }
  }
  if (argc > 1 && ran == 0) {
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

#define RUN_TESTS(argc, argv) harness_run((argc), (argv))

#endif /* HUB_TEST_HARNESS_H */
