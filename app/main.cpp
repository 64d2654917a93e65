// qlab — entry point. Everything lives in the registered commands (cmd_*.cpp) and the tutor.
#include "app/cli.h"

int main(int argc, char** argv) { return qlab::app::run_main(argc, argv); }
