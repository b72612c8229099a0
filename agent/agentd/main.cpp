// bpfence-agent: the node agent. See agent.h and `bpfence-agent --help`.
#include "agent.h"

int main(int argc, char** argv) { return bpfence::agent_main(argc, argv); }
