/* main.c - the polysweep executable: everything is in the library. */
#include "polysweep/cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }
