// netctl: the debug CLI of netagent. Commands live in commands/*.cpp (NETCTL_COMMANDS).
#include <iostream>

#include "netagent/netctl/command.hpp"

int main(int argc, char** argv) {
  return netagent::netctl::run_netctl(argc, argv, std::cout, std::cerr);
}
