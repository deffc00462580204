// Colour codes tools print, removed where no terminal shows them.
#include <doctest/doctest.h>

#include <cstdlib>

#include "runner/core/ansi.hh"

using namespace akbuild;

TEST_CASE("strip_ansi removes openapi-ts's colour codes and leaves the text") {
  // A line openapi-ts 0.95 prints into a pipe.
  CHECK(strip_ansi("\x1b[90m[Job 1] \x1b[39m\x1b[32m✅ Done!\x1b[39m Your output is in \x1b[96mgen/ts\x1b[39m") ==
        "[Job 1] ✅ Done! Your output is in gen/ts");
  CHECK(strip_ansi("\x1b[1;31mred\x1b[0m plain") == "red plain");
  CHECK(strip_ansi("\x1b]8;;https://x.org\x07link\x1b]8;;\x1b\\") == "link");
  CHECK(strip_ansi("\x1b" "7saved\x1b" "8") == "saved");
  CHECK(strip_ansi("no codes") == "no codes");
  CHECK(strip_ansi("cut \x1b[3") == "cut ");
}

TEST_CASE("colour_wanted: NO_COLOR wins, FORCE_COLOR forces, else only a terminal") {
  int null_fd = 1000;  // not open: not a terminal
  ::unsetenv("NO_COLOR");
  ::unsetenv("FORCE_COLOR");
  CHECK_FALSE(colour_wanted(null_fd));
  ::setenv("FORCE_COLOR", "1", 1);
  CHECK(colour_wanted(null_fd));
  ::setenv("FORCE_COLOR", "0", 1);
  CHECK_FALSE(colour_wanted(null_fd));
  ::setenv("FORCE_COLOR", "1", 1);
  ::setenv("NO_COLOR", "1", 1);
  CHECK_FALSE(colour_wanted(null_fd));
  ::unsetenv("NO_COLOR");
  ::unsetenv("FORCE_COLOR");
}
